package testutil

import (
	"io"
	"strings"
	"sync/atomic"
	"testing"
)

func TestBindWatchSeesTheWordsHoweverTheOutputIsSplit(t *testing.T) {
	line := `{"level":"error","msg":"listen tcp 127.0.0.1:4000: bind: address already in use"}` + "\n"
	for _, cut := range [][]int{{len(line)}, {50}, {70}, {60, 62, 64}, {69, 70, 71, 72, 73, 74}} {
		var failed atomic.Bool
		w := &bindWatch{w: io.Discard, failed: &failed}
		_, _ = w.Write([]byte(strings.Repeat("x", 100))) // earlier output
		rest := line
		for i, n := range cut {
			if i > 0 {
				n -= cut[i-1]
			}
			_, _ = w.Write([]byte(rest[:n]))
			rest = rest[n:]
		}
		_, _ = w.Write([]byte(rest))
		if !failed.Load() {
			t.Errorf("cut at %v: not seen", cut)
		}
	}
	var failed atomic.Bool
	w := &bindWatch{w: io.Discard, failed: &failed}
	for _, part := range []string{"address already", " used ", "in use"} {
		_, _ = w.Write([]byte(part))
	}
	if failed.Load() {
		t.Error("seen in output that does not say it")
	}
}
