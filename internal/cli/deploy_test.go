package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNginxExample runs deploy/nginx.conf for real: nginx (Debian's, when
// installed) in front of kassa serve on loopback, with a generated
// certificate in place of Let's Encrypt's. Through it: HTTPS is proxied
// with the request id kept, plain HTTP is redirected, /metrics is not
// reachable, and a server-sent event stream delivers its first event at
// once rather than when a buffer fills (the example turns buffering off
// for /events; kassa's X-Accel-Buffering: no header asks the same).
func TestNginxExample(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx is not installed (apt-get install nginx)")
	}
	dir := t.TempDir()
	certFile, keyFile, pool := writeTestCert(t, dir)
	vars := newVars(t, "rpc://u:p@"+freeAddr(t))
	storeID := createStore(t, vars, "medium")
	invID := createInvoice(t, vars, storeID)
	s := startServe(t, vars)

	example, err := os.ReadFile(filepath.Join("..", "..", "deploy", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	httpAddr, httpsAddr := freeAddr(t), freeAddr(t)
	conf := string(example)
	for old, repl := range map[string]string{
		"listen 80;":                 "listen " + httpAddr + ";",
		"listen [::]:80;":            "",
		"listen 443 ssl http2;":      "listen " + httpsAddr + " ssl http2;",
		"listen [::]:443 ssl http2;": "",
		"server 127.0.0.1:8430;":     "server " + s.addr + ";",
		"/etc/letsencrypt/live/pay.example.com/fullchain.pem": certFile,
		"/etc/letsencrypt/live/pay.example.com/privkey.pem":   keyFile,
	} {
		if !strings.Contains(conf, old) {
			t.Fatalf("deploy/nginx.conf no longer has %q; update this test", old)
		}
		conf = strings.ReplaceAll(conf, old, repl)
	}
	if err := os.WriteFile(filepath.Join(dir, "kassa.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n"
	}
	main := user + `pid ` + dir + `/nginx.pid;
error_log ` + dir + `/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path ` + dir + `/body;
	proxy_temp_path ` + dir + `/proxy;
	fastcgi_temp_path ` + dir + `/fastcgi;
	uwsgi_temp_path ` + dir + `/uwsgi;
	scgi_temp_path ` + dir + `/scgi;
	include ` + dir + `/kassa.conf;
}
`
	mainFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(mainFile, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(nginx, "-t", "-p", dir, "-c", mainFile).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command(nginx, "-p", dir, "-c", mainFile, "-g", "daemon off;")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "https://" + httpsAddr
	var h http.Header
	waitFor(t, "nginx to proxy /healthz", func() bool {
		var code int
		code, _, h = get(t, client, base+"/healthz", map[string]string{"X-Request-Id": "via-nginx-1"})
		return code == 200
	})
	if h.Get("X-Request-Id") != "via-nginx-1" {
		t.Fatalf("the request id must pass through nginx: %v", h)
	}
	if code, _, _ := get(t, client, base+"/metrics", nil); code != 404 {
		t.Fatalf("/metrics through nginx: %d", code)
	}
	code, _, h := get(t, client, "http://"+httpAddr+"/i/"+invID+"?x=1", nil)
	if code != 301 || h.Get("Location") != "https://127.0.0.1/i/"+invID+"?x=1" {
		t.Fatalf("http redirect: %d %q", code, h.Get("Location"))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/events?invoiceId="+invID, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events through nginx: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == "event: connect" {
			return
		}
	}
	t.Fatalf("no connect event through nginx before the deadline: %v", sc.Err())
}
