package browsertest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/segue-fm/segue/internal/browsertest"
)

// TestAudioWorkletAndIsolation loads a page served with COOP/COEP from a
// loopback server and checks what the web player depends on: a running
// AudioContext with an AudioWorklet and a SharedArrayBuffer.
func TestAudioWorkletAndIsolation(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cross-Origin-Opener-Policy", "same-origin")
		w.Header().Set("Cross-Origin-Embedder-Policy", "require-corp")
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `<!doctype html><title>bt</title>`)
		case "/w.js":
			w.Header().Set("Content-Type", "text/javascript")
			fmt.Fprint(w, `registerProcessor("p", class extends AudioWorkletProcessor { process() { return true } })`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	ctx := browsertest.New(t)
	type result struct {
		Isolated bool    `json:"isolated"`
		SAB      bool    `json:"sab"`
		Rate     float64 `json:"rate"`
		State    string  `json:"state"`
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[result](`(async () => {
			const ac = new AudioContext();
			await ac.audioWorklet.addModule("/w.js");
			const n = new AudioWorkletNode(ac, "p", {outputChannelCount: [2]});
			n.connect(ac.destination);
			await ac.resume();
			return {isolated: crossOriginIsolated, sab: typeof SharedArrayBuffer === "function", rate: ac.sampleRate, state: ac.state};
		})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Isolated || !got.SAB || got.State != "running" || got.Rate <= 0 {
		t.Fatalf("browser = %+v, want cross-origin isolated, SharedArrayBuffer, running AudioContext", got)
	}
}
