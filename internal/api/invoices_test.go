package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/kassa-pay/kassa/internal/api"
	"github.com/kassa-pay/kassa/internal/merchant"
)

// TestCreateRejectsPrivateNotificationURL: POST /invoices and the v0.3
// POST /api/invoice refuse a notificationURL kassa would not deliver to,
// in their error shapes, unless private targets are allowed.
func TestCreateRejectsPrivateNotificationURL(t *testing.T) {
	for _, allow := range []bool{false, true} {
		e := newEnvWith(t, func(c *api.Config) {
			c.IPNAllowPrivate = allow
			c.InvoiceLimits = func(string) merchant.Limits { return merchant.Limits{} }
		})
		apiKey := e.newAPIKey(e.storeID)
		post := func(path, target string, legacy bool) (int, map[string]any) {
			body := map[string]any{"price": 10, "currency": "USD", "notificationURL": target}
			if legacy {
				raw, _ := json.Marshal(body)
				return e.legacy(http.MethodPost, path, basic(apiKey+":"), "application/json", string(raw))
			}
			body["token"] = e.pos
			status, _, raw := e.raw(http.MethodPost, path, body)
			var m map[string]any
			_ = json.Unmarshal(raw, &m)
			return status, m
		}
		for _, tc := range []struct {
			target      string
			ok, okAllow bool
		}{
			{"https://shop.example/ipn", true, true},
			{"http://127.0.0.1:9/ipn", false, true},
			{"https://127.0.0.1:9/ipn", false, true},
			{"https://[::1]/ipn", false, true},
			{"https://10.1.2.3/ipn", false, true},
			{"https://localhost/ipn", false, true},
			{"https://169.254.169.254/latest", false, false},
			{"ftp://shop.example/ipn", false, false},
			{"https://user:pw@shop.example/ipn", false, false},
		} {
			want := tc.ok
			if allow {
				want = tc.okAllow
			}
			status, m := post("/invoices", tc.target, false)
			if want != (status == http.StatusOK) {
				t.Errorf("allow=%v POST /invoices %s: %d %v", allow, tc.target, status, m)
			}
			if !want {
				errs, _ := m["errors"].([]any)
				first, _ := func() (map[string]any, bool) {
					if len(errs) == 0 {
						return nil, false
					}
					e, ok := errs[0].(map[string]any)
					return e, ok
				}()
				if status != http.StatusBadRequest || m["status"] != "error" || first["param"] != "notificationURL" ||
					!strings.Contains(fmt.Sprint(m["error"]), "notificationURL") {
					t.Errorf("allow=%v POST /invoices %s: error %d %v", allow, tc.target, status, m)
				}
			}
			status, m = post("/api/invoice", tc.target, true)
			if want != (status == http.StatusOK) {
				t.Errorf("allow=%v POST /api/invoice %s: %d %v", allow, tc.target, status, m)
			}
			if !want {
				e, _ := m["error"].(map[string]any)
				if status != http.StatusBadRequest || e["type"] != "validationError" {
					t.Errorf("allow=%v POST /api/invoice %s: error %d %v", allow, tc.target, status, m)
				}
			}
		}
	}
}
