package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
)

// envelope is the outer shape of every v2 response (spec §0.5, §0.6). The
// error fields stay raw because servers disagree on their types.
type envelope struct {
	Status  string          `json:"status"`
	Code    json.RawMessage `json:"code"`
	Error   json.RawMessage `json:"error"`
	Errors  json.RawMessage `json:"errors"`
	Message json.RawMessage `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// decodeResponse turns a response into out or an error. Errors are detected
// the way the official SDKs detect them: status "error", a non-empty error or
// errors key, or an HTTP error status. Success data is unwrapped from data;
// a body without data (legacy endpoints) is decoded whole.
func decodeResponse(status int, raw []byte, out any) error {
	trimmed := bytes.TrimSpace(raw)
	httpErr := status < 200 || status > 299
	if len(trimmed) == 0 || trimmed[0] != '{' {
		if httpErr {
			return &APIError{Status: status, Message: http.StatusText(status)}
		}
		if len(trimmed) > 0 && trimmed[0] == '[' {
			return decodeInto(trimmed, out)
		}
		return fmt.Errorf("%w: HTTP %d body is not a JSON object", ErrInvalidResponse, status)
	}

	var env envelope
	if err := json.Unmarshal(trimmed, &env); err != nil {
		if httpErr {
			return &APIError{Status: status, Message: http.StatusText(status)}
		}
		return fmt.Errorf("%w: %v", ErrInvalidResponse, err)
	}

	msg := errorText(env.Error)
	listed := errorsText(env.Errors)
	if httpErr || env.Status == "error" || msg != "" || listed != "" {
		if msg == "" {
			msg = stringValue(env.Message)
		}
		if msg == "" {
			msg = listed
		}
		return &APIError{Status: status, Code: scalarText(env.Code), Message: msg}
	}
	if out == nil {
		return nil
	}
	if len(env.Data) == 0 {
		return decodeInto(trimmed, out)
	}
	return decodeInto(env.Data, out)
}

// decodeInto unmarshals JSON into out, reporting a mismatch as
// ErrInvalidResponse.
func decodeInto(raw []byte, out any) error {
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidResponse, err)
	}
	return nil
}

// errorText reads the error key: a string in v2 (spec §0.6) or, in the
// legacy API, an object with a message (spec §9).
func errorText(raw json.RawMessage) string {
	if s := stringValue(raw); s != "" {
		return s
	}
	var obj struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		if obj.Message != "" {
			return obj.Message
		}
		return obj.Type
	}
	return ""
}

// errorsText reads the first message of an errors list
// ([{"error":"…","param":"…"}]), or "" when there is none.
func errorsText(raw json.RawMessage) string {
	var list []struct {
		Error string `json:"error"`
		Param string `json:"param"`
	}
	if json.Unmarshal(raw, &list) != nil || len(list) == 0 {
		return ""
	}
	if list[0].Error == "" {
		return "request rejected"
	}
	if list[0].Param != "" {
		return list[0].Param + ": " + list[0].Error
	}
	return list[0].Error
}

// stringValue returns raw as a Go string when it is a JSON string.
func stringValue(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// scalarText returns a JSON string or number as text ("010207" or 10207).
func scalarText(raw json.RawMessage) string {
	if s := stringValue(raw); s != "" {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}
