package receiver

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseApps(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		entries []string
		want    map[string]string
		wantErr string
	}{
		{name: "an ID alone goes to the default namespace", entries: []string{"1400000001"}, want: map[string]string{"1400000001": "battles"}},
		{name: "an ID with a namespace goes there", entries: []string{"1400000001=live-a", " 1400000002 = live-b "}, want: map[string]string{"1400000001": "live-a", "1400000002": "live-b"}},
		{name: "the same entry twice is one app", entries: []string{"1400000001", "1400000001=battles"}, want: map[string]string{"1400000001": "battles"}},
		{name: "empty entries from a trailing comma are skipped", entries: []string{"1400000001", ""}, want: map[string]string{"1400000001": "battles"}},
		{name: "no ID at all is an error", entries: nil, wantErr: "required"},
		{name: "an ID that is not decimal is an error", entries: []string{"14000abc"}, wantErr: "decimal"},
		{name: "an ID of 21 digits is an error", entries: []string{strings.Repeat("1", 21)}, wantErr: "decimal"},
		{name: "an invalid namespace is an error", entries: []string{"1400000001=Live_A"}, wantErr: "not a valid namespace"},
		{name: "one ID for two namespaces is an error", entries: []string{"1400000001=a", "1400000001=b"}, wantErr: "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseApps(tc.entries, "battles")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseApps = %v, %v; want an error mentioning %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("apps (-want +got):\n%s", diff)
			}
		})
	}
}
