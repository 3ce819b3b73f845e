package bitpay

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"reflect"
)

// WriteData answers with BitPay's success envelope:
// {"facade":facade,"data":data}, the facade omitted when empty. A nil
// slice is sent as [] because clients index lists.
func WriteData(w http.ResponseWriter, status int, facade string, data any) {
	if v := reflect.ValueOf(data); v.Kind() == reflect.Slice && v.IsNil() {
		data = []struct{}{}
	}
	b, err := Marshal(struct {
		Facade string `json:"facade,omitempty"`
		Data   any    `json:"data"`
	}{facade, data})
	if err != nil {
		// An unencodable resource is a bug in kassa, not in the request.
		slog.Error("encode response", "err", err)
		WriteRaw(w, http.StatusInternalServerError, []byte(InternalBody))
		return
	}
	WriteRaw(w, status, b)
}

// InternalBody is the 500 envelope for when even encoding failed.
const InternalBody = `{"status":"error","code":"000000","data":null,"error":"internal error","message":"internal error"}` + "\n"

// Marshal encodes v as BitPay's answers carry it: without HTML escaping,
// so URLs and posData read as sent, and ending in a newline.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteRaw writes a body Marshal encoded with status and the headers
// every JSON answer carries.
func WriteRaw(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// AckBody is the newer acknowledgement (refund and payout notifications,
// spec §0.5): the SDKs read status "success" as true, and an empty data
// object as "nothing more to parse".
const AckBody = `{"status":"success","data":{},"message":null}` + "\n"

// WriteAck answers with AckBody.
func WriteAck(w http.ResponseWriter) { WriteRaw(w, http.StatusOK, []byte(AckBody)) }
