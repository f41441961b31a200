package receiver

import (
	"fmt"
	"strings"

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
