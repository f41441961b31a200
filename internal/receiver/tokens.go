package receiver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
)

// MaxTokenLength is the longest callback token Tencent accepts.
const MaxTokenLength = 128

// allApps is the key of the token file that serves every app without one of its own.
const allApps = "*"

// DefaultTokenReload is how often token files are read again for a rotation.
const DefaultTokenReload = 5 * time.Second

// Tokens are the callback tokens a Sign may be made with, per app, read from files and read
// again every Reload: a mounted Secret updated in place (a rotation) is picked up without a
// restart. A file holds one token per line, so an old and a new token can both be accepted
// while Tencent's console moves from one to the other. A file that becomes unreadable, empty
// or invalid keeps its last good tokens; the failure is logged and counted.
//
// Start it (it is a manager Runnable, on every replica) to have it reload.
type Tokens struct {
	// Reload is how often the files are read again; DefaultTokenReload when zero.
	Reload time.Duration
	// Log reports the reloads.
	Log logr.Logger

	files   []tokenFile
	current atomic.Pointer[map[string][]string] // app ID, or allApps → tokens
}

type tokenFile struct {
	app, path string
	last      []byte // the content of the last good read
}

// LoadTokens reads the --callback-token-file entries: each PATH (every app without a file of
// its own) or ID=PATH (the app ID). Every app of apps must have tokens; a file must hold 1 or
// more tokens of 1 to MaxTokenLength characters, one per line. It returns nil, and no error,
// when there are no entries: authentication is off.
func LoadTokens(entries []string, apps map[string]string) (*Tokens, error) {
	t := &Tokens{}
	seen := map[string]string{}
	for _, entry := range entries {
		app, path := allApps, strings.TrimSpace(entry)
		if id, p, ok := strings.Cut(path, "="); ok && isDecimal(id) {
			app, path = id, p
			if _, known := apps[app]; !known {
				return nil, fmt.Errorf("--callback-token-file %q: SDKAppID %s is not one of --sdk-app-id", entry, app)
			}
		}
		if path == "" {
			return nil, fmt.Errorf("--callback-token-file %q: no file", entry)
		}
		if prev, dup := seen[app]; dup {
			return nil, fmt.Errorf("--callback-token-file: %s has two files, %s and %s", describe(app), prev, path)
		}
		seen[app] = path
		t.files = append(t.files, tokenFile{app: app, path: path})
	}
	if len(t.files) == 0 {
		return nil, nil
	}
	if _, all := seen[allApps]; !all {
		for id := range apps {
			if _, own := seen[id]; !own {
				return nil, fmt.Errorf("--callback-token-file: SDKAppID %s has no token file (give one for it, ID=PATH, or one for every app, PATH)", id)
			}
		}
	}
	byApp := map[string][]string{}
	for i := range t.files {
		f := &t.files[i]
		data, tokens, err := readTokens(f.path)
		if err != nil {
			return nil, err
		}
		f.last, byApp[f.app] = data, tokens
		tokensLoaded.WithLabelValues(f.app).Set(float64(len(tokens)))
		tokenReloadErrors.WithLabelValues(f.app) // reported from the start, at 0
	}
	t.current.Store(&byApp)
	return t, nil
}

// For returns the tokens a Sign for app may be made with.
func (t *Tokens) For(app string) []string {
	byApp := *t.current.Load()
	if tokens, own := byApp[app]; own {
		return tokens
	}
	return byApp[allApps]
}

// NeedLeaderElection says that every replica reloads its tokens: every replica receives.
func (t *Tokens) NeedLeaderElection() bool { return false }

// Start reads the files again every Reload until ctx ends.
func (t *Tokens) Start(ctx context.Context) error {
	every := t.Reload
	if every <= 0 {
		every = DefaultTokenReload
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			t.reload()
		}
	}
}

// reload reads every file again and swaps in what changed; a file that fails keeps its last
// good tokens.
func (t *Tokens) reload() {
	byApp := *t.current.Load()
	var next map[string][]string
	for i := range t.files {
		f := &t.files[i]
		data, tokens, err := readTokens(f.path)
		if err != nil {
			tokenReloadErrors.WithLabelValues(f.app).Inc()
			t.Log.Error(err, "Keeping the last good callback tokens", "app", f.app, "file", f.path)
			continue
		}
		if bytes.Equal(data, f.last) {
			continue
		}
		if next == nil {
			next = make(map[string][]string, len(byApp))
			for k, v := range byApp {
				next[k] = v
			}
		}
		f.last, next[f.app] = data, tokens
		tokensLoaded.WithLabelValues(f.app).Set(float64(len(tokens)))
		t.Log.Info("Callback tokens changed", "app", f.app, "file", f.path, "tokens", len(tokens))
	}
	if next != nil {
		t.current.Store(&next)
	}
}

// readTokens reads a token file: one token per line, surrounding whitespace and blank lines
// ignored (a trailing newline from `echo` or a Secret is not part of a token).
func readTokens(path string) ([]byte, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("--callback-token-file: %w", err)
	}
	var tokens []string
	for line := range strings.Lines(string(data)) {
		token := strings.TrimSpace(line)
		if token == "" {
			continue
		}
		if n := utf8.RuneCountInString(token); n > MaxTokenLength {
			return nil, nil, fmt.Errorf("--callback-token-file %s: a callback token has 1 to %d characters, one has %d", path, MaxTokenLength, n)
		}
		if !slices.Contains(tokens, token) {
			tokens = append(tokens, token)
		}
	}
	if len(tokens) == 0 {
		return nil, nil, fmt.Errorf("--callback-token-file %s: no token in the file (a callback token has 1 to %d characters)", path, MaxTokenLength)
	}
	return data, tokens, nil
}

// describe names an app in a message: its ID, or every app.
func describe(app string) string {
	if app == allApps {
		return "every app"
	}
	return "SDKAppID " + app
}
