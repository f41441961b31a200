// Command upstream is a tiny callback backend for `make dev`: it stands for an app's existing
// Tencent Live callback backend behind battle-operator's receiver (--forward-url). It logs
// every callback it gets, one JSON line each, and answers as Tencent's documentation says a
// backend answers. A gift check (Live.CallbackBeforeSendGift) is refused for GiftId 13 and
// allowed otherwise; every other callback is acknowledged. A request with an Idempotency-Key
// is an HTTP reaction's (config/samples/notify-backend-http.yaml): logged with its key and
// whether the key was seen before, and acknowledged.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sync"
	"time"
)

// unluckyGift is the gift this backend refuses, so a forwarded gift check can be seen deciding.
const unluckyGift = 13

func main() {
	listen := flag.String("listen", "127.0.0.1:8083", "the address to serve callbacks on")
	logPath := flag.String("log", "", "a file to append one JSON line per callback to (default stderr)")
	flag.Parse()

	out := io.Writer(os.Stderr)
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		defer func() { _ = f.Close() }()
		out = f
	}
	var mu sync.Mutex
	seen := map[string]bool{} // the Idempotency-Keys of the reactions' requests
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if key := r.Header.Get("Idempotency-Key"); key != "" {
			// An HTTP reaction's request (a BattleReaction with spec.http): acknowledged, and
			// logged with its key and whether that key came before (a retry).
			mu.Lock()
			repeat := seen[key]
			seen[key] = true
			line, _ := json.Marshal(map[string]any{
				"time": time.Now().UTC().Format(time.RFC3339Nano), "path": r.URL.Path, "reaction": true,
				"idempotencyKey": key, "repeat": repeat, "body": json.RawMessage(validJSON(body)),
			})
			_, _ = fmt.Fprintf(out, "%s\n", line)
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "upstream: battle received"})
			return
		}
		command := r.URL.Query().Get("CallbackCommand")
		status, info := "OK", "upstream: received "+command
		if command == "Live.CallbackBeforeSendGift" {
			var gift struct {
				GiftID int64 `json:"GiftId"`
			}
			_ = json.Unmarshal(body, &gift)
			if gift.GiftID == unluckyGift {
				status, info = "FAIL", fmt.Sprintf("upstream: gift %d is not allowed in this room", unluckyGift)
			} else {
				info = fmt.Sprintf("upstream: gift %d allowed", gift.GiftID)
			}
		}
		line, _ := json.Marshal(map[string]any{
			"time": time.Now().UTC().Format(time.RFC3339Nano), "path": r.URL.Path, "query": r.URL.RawQuery,
			"forwardedFor": r.Header.Get("X-Forwarded-For"), "body": json.RawMessage(validJSON(body)), "answer": status,
		})
		mu.Lock()
		_, _ = fmt.Fprintf(out, "%s\n", line)
		mu.Unlock()
		code := 0
		if status == "FAIL" {
			code = 1
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"ActionStatus": status, "ErrorCode": code, "ErrorInfo": info})
	})
	server := &http.Server{Addr: *listen, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("upstream: serving callbacks on http://%s/", *listen)
	log.Fatal(server.ListenAndServe())
}

// validJSON is body when it is JSON, else body as a JSON string.
func validJSON(body []byte) []byte {
	if json.Valid(body) {
		return body
	}
	s, _ := json.Marshal(string(body))
	return s
}
