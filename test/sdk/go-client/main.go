// Command go-client is a Go application's HTTPS client as shipped: net/http's default client,
// which trusts the system roots plus what SSL_CERT_DIR adds, and resolves through /etc/hosts.
// test/sdk/intercept.test.ts runs it with its own /etc/hosts sending api.stripe.com to
// payguard and SSL_CERT_DIR naming a directory that holds payguard's CA certificate alone —
// the chart's setting for Go applications. It POSTs the same keyed payment twice and prints
// one JSON line: each answer's status, body and replay header, or the error.
package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
)

type outcome struct {
	Status   int    `json:"status,omitempty"`
	Body     string `json:"body,omitempty"`
	Replayed string `json:"replayed,omitempty"`
	Error    string `json:"error,omitempty"`
}

func pay(url, key string) outcome {
	req, err := http.NewRequest("POST", url, strings.NewReader("amount=1000&currency=usd"))
	if err != nil {
		return outcome{Error: err.Error()}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer sk_test_go")
	req.Header.Set("Idempotency-Key", key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return outcome{Error: err.Error()}
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return outcome{Status: res.StatusCode, Body: string(body), Replayed: res.Header.Get("Idempotent-Replayed")}
}

func main() {
	url, key := os.Args[1], os.Args[2]
	first := pay(url, key)
	repeat := pay(url, key)
	_ = json.NewEncoder(os.Stdout).Encode(map[string]outcome{"first": first, "repeat": repeat})
}
