// Baseline "go": the original aiChatFlow design in Go, stdlib only (docs/benchmarks.md).
//
// Per request, a provider goroutine sends tokens into a channel; the handler ranges over the
// channel and writes each event with fmt.Fprintf followed by Flush (one write per event). The
// frames are the same as benchmarks/baselines/uvicorn_raw.py: start, one text frame per token,
// done. The tokens are the mock provider's for the benchmark's prompt, read from --tokens (a
// JSON array of strings written by benchmarks/go_build.py) and cycled up to max_tokens.
//
// ?delay_ms=N waits N ms before the first token (the ttfe and memory scenarios keep streams
// idle that way). ?interval_ms=N paces the provider like a model at 1000/N tokens/s (the paced
// scenario): token i is due at t0 + i*N ms, t0 being when the provider starts sending; the
// goroutine sleeps until a token is due, and a late token is sent at once (no catch-up batching:
// the handler still writes and flushes every token on its own).
//
// Run: go build -o acf-go-baseline . && ./acf-go-baseline --port 8091 --tokens tokens.json
package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

var tokens []string

type chatRequest struct {
	MaxTokens int `json:"max_tokens"`
}

func streamID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// provider is the model side: it sends n tokens into ch, then closes it.
func provider(n int, delay, interval time.Duration, ch chan<- string, stop <-chan struct{}) {
	defer close(ch)
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-stop:
			return
		}
	}
	t0 := time.Now()
	var timer *time.Timer
	for i := 0; i < n; i++ {
		if interval > 0 {
			if wait := time.Until(t0.Add(time.Duration(i) * interval)); wait > 0 {
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait) // safe: the last wait drained timer.C
				}
				select {
				case <-timer.C:
				case <-stop:
					timer.Stop()
					return
				}
			}
		}
		select {
		case ch <- tokens[i%len(tokens)]:
		case <-stop:
			return
		}
	}
}

// queryMs reads a query parameter in milliseconds (0 when absent).
func queryMs(r *http.Request, name string) time.Duration {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0
	}
	ms, _ := strconv.ParseFloat(v, 64)
	return time.Duration(ms * float64(time.Millisecond))
}

func chat(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	n := req.MaxTokens
	if n <= 0 {
		n = len(tokens)
	}
	delay := queryMs(r, "delay_ms")
	interval := queryMs(r, "interval_ms")
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "no flusher", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	sid := streamID()
	start, _ := json.Marshal(map[string]string{"stream_id": sid, "model": "fast/x"})
	fmt.Fprintf(w, "retry: 2000\nid: %s.0\nevent: start\ndata: %s\n\n", sid, start)
	flusher.Flush()

	ch := make(chan string)
	stop := make(chan struct{})
	defer close(stop)
	go provider(n, delay, interval, ch, stop)
	seq := 0
	for tok := range ch {
		seq++
		enc, _ := json.Marshal(tok)
		if _, err := fmt.Fprintf(w, "id: %s.%d\nevent: text\ndata: {\"text\":%s}\n\n", sid, seq, enc); err != nil {
			return
		}
		flusher.Flush()
	}
	done, _ := json.Marshal(map[string]any{
		"finish_reason": "length",
		"usage":         map[string]int{"input_tokens": 1, "output_tokens": n},
	})
	fmt.Fprintf(w, "id: %s.%d\nevent: done\ndata: %s\n\n", sid, seq+1, done)
}

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 8091, "port to listen on")
	tokensPath := flag.String("tokens", "", "JSON array of the tokens to cycle")
	flag.Parse()
	raw, err := os.ReadFile(*tokensPath)
	if err != nil {
		log.Fatalf("--tokens: %v", err)
	}
	if err := json.Unmarshal(raw, &tokens); err != nil || len(tokens) == 0 {
		log.Fatalf("--tokens: need a non-empty JSON array of strings: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/chat", chat)
	ln, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}
