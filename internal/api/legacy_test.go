package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/api"
	"github.com/kassa-pay/kassa/internal/auth"
	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/merchant"
)

// legacy sends a v0.3 request with an Authorization header (none when
// empty) and returns the status and the decoded JSON object.
func (e *env) legacy(method, path, authz, contentType, body string) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatalf("%s %s: answer is not a JSON object: %s", method, path, b)
	}
	return resp.StatusCode, m
}

func basic(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }

// newAPIKey creates an API key for a store.
func (e *env) newAPIKey(storeID string) string {
	e.t.Helper()
	key, err := e.db.CreateAPIKey(context.Background(), storeID, "test")
	if err != nil {
		e.t.Fatal(err)
	}
	return key
}

// legacyError checks an answer is v0.3's {"error":{"type","message"}}.
func legacyError(t *testing.T, m map[string]any, typ string) {
	t.Helper()
	e, ok := m["error"].(map[string]any)
	if !ok || e["type"] != typ || e["message"] == "" || e["message"] == nil {
		t.Fatalf("want v0.3 error of type %q, have %v", typ, m)
	}
}

func TestLegacyCreateAndGetInvoice(t *testing.T) {
	e := newEnv(t)
	key := e.newAPIKey(e.storeID)
	jsonBody := `{"price":10,"currency":"USD","posData":"{\"ref\":711454}","orderID":"A-1","itemDesc":"Tee",` +
		`"transactionSpeed":"high","fullNotifications":true,"physical":"true","buyerName":"Jo","buyerCity":"Oslo",` +
		`"buyerZip":"0150","notificationURL":"https://shop.example/ipn","redirectURL":"https://shop.example/done"}`
	form := url.Values{"price": {"10"}, "currency": {"USD"}, "posData": {`{"ref":711454}`}, "orderID": {"A-1"},
		"itemDesc": {"Tee"}, "transactionSpeed": {"high"}, "fullNotifications": {"true"}, "physical": {"true"},
		"buyerName": {"Jo"}, "buyerCity": {"Oslo"}, "buyerZip": {"0150"},
		"notificationURL": {"https://shop.example/ipn"}, "redirectURL": {"https://shop.example/done"}}.Encode()
	cases := []struct {
		name, authz, contentType, body string
	}{
		{"bp_lib: JSON, key without colon", basic(key), "application/json", jsonBody},
		{"cURL -u key: JSON", basic(key + ":"), "application/json", jsonBody},
		{"form-encoded", basic(key + ":"), "application/x-www-form-urlencoded", form},
		{"form without content type", basic(key), "", form},
		{"unpadded base64, lower-case scheme", "basic " + base64.RawStdEncoding.EncodeToString([]byte(key)), "application/json", jsonBody},
		{"trailing slash", basic(key), "application/json", jsonBody},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := "/api/invoice"
			if strings.HasPrefix(tc.name, "trailing") {
				path += "/"
			}
			status, inv := e.legacy("POST", path, tc.authz, tc.contentType, tc.body)
			if status != 200 {
				t.Fatalf("create: %d %v", status, inv)
			}
			if _, wrapped := inv["data"]; wrapped {
				t.Fatalf("v0.3 answers the invoice flat, without data: %v", inv)
			}
			id, _ := inv["id"].(string)
			want := map[string]any{"url": e.url + "/invoice?id=" + id, "posData": `{"ref":711454}`, "status": "new",
				"price": 10.0, "currency": "USD", "btcPrice": "0.0002", "btcDue": "0.0002", "btcPaid": "0",
				"rate": 50000.0, "exceptionStatus": false}
			for k, v := range want {
				if inv[k] != v {
					t.Errorf("%s = %#v, want %#v", k, inv[k], v)
				}
			}
			if rates, _ := inv["exRates"].(map[string]any); rates["USD"] != 50000.0 {
				t.Errorf("exRates = %v", inv["exRates"])
			}
			invTime, _ := inv["invoiceTime"].(float64)
			exp, _ := inv["expirationTime"].(float64)
			now, _ := inv["currentTime"].(float64)
			if invTime <= 0 || exp-invTime != float64(15*time.Minute/time.Millisecond) || now < invTime {
				t.Errorf("times in epoch ms: invoice %v expiration %v current %v", invTime, exp, now)
			}
			// Every v0.3 field reached the invoice.
			stored, err := e.db.GetInvoice(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			f := stored.Fields
			if stored.StoreID != e.storeID || stored.Speed != invoice.SpeedHigh || f.OrderID != "A-1" || f.ItemDesc != "Tee" ||
				!f.FullNotifications || !f.Physical || f.Buyer.Name != "Jo" || f.Buyer.Locality != "Oslo" ||
				f.Buyer.PostalCode != "0150" || f.NotificationURL != "https://shop.example/ipn" ||
				f.RedirectURL != "https://shop.example/done" {
				t.Errorf("stored invoice: %+v", stored)
			}
			// GET /api/invoice/:id answers the same shape.
			status, got := e.legacy("GET", "/api/invoice/"+id, tc.authz, "", "")
			if status != 200 || got["id"] != id || got["status"] != "new" || got["btcPrice"] != "0.0002" || got["data"] != nil {
				t.Fatalf("get: %d %v", status, got)
			}
		})
	}
}

func TestLegacyRejects(t *testing.T) {
	e := newEnv(t)
	key := e.newAPIKey(e.storeID)
	// An invoice of another store, created with that store's key.
	other := merchant.Store{ID: auth.NewID(), Name: "Other", Network: "regtest", Key: "tpubTEST",
		Speed: invoice.SpeedMedium, Expiry: 15 * time.Minute, GapLimit: 20, DefaultCurrency: "USD", CreatedAt: time.Now()}
	if err := e.db.CreateStore(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	status, mine := e.legacy("POST", "/api/invoice", basic(key), "application/json", `{"price":"5","currency":"USD"}`)
	if status != 200 {
		t.Fatalf("create: %d %v", status, mine)
	}
	revoked := e.newAPIKey(e.storeID)
	keys, _ := e.db.ListAPIKeys(context.Background(), e.storeID)
	for _, k := range keys {
		if k.Prefix == revoked[:len(k.Prefix)] {
			if _, err := e.db.RevokeAPIKey(context.Background(), k.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	otherKey := e.newAPIKey(other.ID)

	cases := []struct {
		name, method, path, authz, contentType, body string
		status                                       int
		typ                                          string
	}{
		{"no Authorization", "POST", "/api/invoice", "", "application/json", `{"price":1,"currency":"USD"}`, 401, "unauthorized"},
		{"unknown key", "POST", "/api/invoice", basic("nope:"), "application/json", `{"price":1,"currency":"USD"}`, 401, "unauthorized"},
		{"revoked key", "POST", "/api/invoice", basic(revoked), "application/json", `{"price":1,"currency":"USD"}`, 401, "unauthorized"},
		{"v2 token is not an API key", "POST", "/api/invoice", basic(e.pos), "application/json", `{"price":1,"currency":"USD"}`, 401, "unauthorized"},
		{"bearer scheme", "POST", "/api/invoice", "Bearer " + key, "application/json", `{"price":1,"currency":"USD"}`, 401, "unauthorized"},
		{"not base64", "GET", "/api/invoice/" + mine["id"].(string), "Basic %%%", "", "", 401, "unauthorized"},
		{"get with wrong key", "GET", "/api/invoice/" + mine["id"].(string), basic("nope"), "", "", 401, "unauthorized"},
		{"another store's invoice", "GET", "/api/invoice/" + mine["id"].(string), basic(otherKey), "", "", 404, "notFound"},
		{"unknown invoice", "GET", "/api/invoice/nope", basic(key), "", "", 404, "notFound"},
		{"price not a number", "POST", "/api/invoice", basic(key), "application/json", `{"price":"ten","currency":"USD"}`, 400, "validationError"},
		{"negative price", "POST", "/api/invoice", basic(key), "application/json", `{"price":-1,"currency":"USD"}`, 400, "validationError"},
		{"no price", "POST", "/api/invoice", basic(key), "application/json", `{"currency":"USD"}`, 400, "validationError"},
		{"bad form price", "POST", "/api/invoice", basic(key), "application/x-www-form-urlencoded", "price=ten&currency=USD", 400, "validationError"},
		{"unknown currency", "POST", "/api/invoice", basic(key), "application/json", `{"price":1,"currency":"XYZ"}`, 400, "validationError"},
		{"not JSON", "POST", "/api/invoice", basic(key), "application/json", `{"price":`, 400, "validationError"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, m := e.legacy(tc.method, tc.path, tc.authz, tc.contentType, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, m)
			}
			legacyError(t, m, tc.typ)
		})
	}
	// The field at fault is named.
	_, m := e.legacy("POST", "/api/invoice", basic(key), "application/json", `{"price":"ten","currency":"USD"}`)
	if msgs, _ := m["error"].(map[string]any)["messages"].(map[string]any); msgs["price"] == nil {
		t.Fatalf("validation error must name the field: %v", m)
	}
	// Nothing but the one good invoice was created.
	invs, err := e.db.ListInvoices(context.Background(), e.storeID, 10)
	if err != nil || len(invs) != 1 {
		t.Fatalf("rejected requests must create nothing: %d invoices, %v", len(invs), err)
	}
}

func TestBasicAPIKey(t *testing.T) {
	enc := base64.StdEncoding.EncodeToString
	cases := []struct {
		header, key string
		ok          bool
	}{
		{"Basic " + enc([]byte("K3y")), "K3y", true},
		{"Basic " + enc([]byte("K3y:")), "K3y", true},
		{"basic " + enc([]byte("K3y:")), "K3y", true},
		{"BASIC  " + enc([]byte("K3y")) + " ", "K3y", true},
		{"Basic " + enc([]byte("K3y\n")), "K3y", true},
		{"Basic " + enc([]byte(":K3y")), "K3y", true},
		{"Basic " + enc([]byte("K3y:ignored")), "K3y", true},
		{"Basic " + base64.RawStdEncoding.EncodeToString([]byte("K3y1")), "K3y1", true},
		{"Basic " + enc([]byte(":")), "", false},
		{"Basic " + enc(nil), "", false},
		{"Basic !!!", "", false},
		{"Bearer K3y", "", false},
		{"Basic", "", false},
		{"", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.header, func(t *testing.T) {
			key, ok := api.BasicAPIKey(tc.header)
			if key != tc.key || ok != tc.ok {
				t.Fatalf("BasicAPIKey(%q) = %q, %v; want %q, %v", tc.header, key, ok, tc.key, tc.ok)
			}
		})
	}
}

func TestRenderLegacyInvoiceDeclinedIsInvalid(t *testing.T) {
	inv := &invoice.Invoice{ID: "x", Status: invoice.StatusDeclined, Currency: "USD"}
	if got := api.RenderLegacyInvoice(inv, "https://k.example", 0, time.Now()).Status; got != invoice.StatusInvalid {
		t.Fatalf("declined renders as %q, want invalid (v0.3 has no declined)", got)
	}
}
