package receiver

import (
	"fmt"
	"os"
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"
)

// ParseApps reads the --sdk-app-id entries, each "ID" or "ID=NAMESPACE", into a map from
// SDKAppID to the namespace its battles go to; an ID without a namespace gets defaultNamespace.
func ParseApps(entries []string, defaultNamespace string) (map[string]string, error) {
	apps := map[string]string{}
	for _, entry := range entries {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		id, ns, hasNS := strings.Cut(entry, "=")
		id, ns = strings.TrimSpace(id), strings.TrimSpace(ns)
		if !hasNS {
			ns = defaultNamespace
		}
		if !isDecimal(id) {
			return nil, fmt.Errorf("--sdk-app-id %q: an SDKAppID is a decimal number of 1 to 20 digits", entry)
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("--sdk-app-id %q: namespace %q is not a valid namespace name: %s", entry, ns, strings.Join(errs, "; "))
		}
		if prev, dup := apps[id]; dup && prev != ns {
			return nil, fmt.Errorf("--sdk-app-id: SDKAppID %s is given twice, for namespaces %q and %q", id, prev, ns)
		}
		apps[id] = ns
	}
	if len(apps) == 0 {
		return nil, fmt.Errorf("--sdk-app-id is required: the SDKAppIDs whose callbacks this receiver accepts")
	}
	return apps, nil
}

func isDecimal(s string) bool {
	if len(s) == 0 || len(s) > 20 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// MaxTokenLength is the longest callback token Tencent accepts.
const MaxTokenLength = 128

// ReadToken reads the callback token from a file. Surrounding whitespace (a trailing newline
// from `echo` or a Secret) is not part of the token.
func ReadToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--callback-token-file: %w", err)
	}
	token := strings.TrimSpace(string(data))
	if n := utf8.RuneCountInString(token); n < 1 || n > MaxTokenLength {
		return "", fmt.Errorf("--callback-token-file %s: a callback token has 1 to %d characters, this one has %d", path, MaxTokenLength, n)
	}
	return token, nil
}
