package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

func battleNamed(name string) *livev1alpha1.BattleResult {
	return &livev1alpha1.BattleResult{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "battles"},
		Spec:       livev1alpha1.BattleResultSpec{BattleID: "id-" + name, Winners: []livev1alpha1.RoomID{}},
	}
}

// entry is one spooled battle, read back.
type entry struct {
	File   string
	Battle *livev1alpha1.BattleResult
}

// Entries reads the spool back, in arrival order, as the replay does (tests only).
func (s *Spool) Entries() ([]entry, error) {
	var out []entry
	for _, name := range s.Files() {
		br, ok, err := s.Read(name)
		if err != nil {
			return out, err
		}
		if ok {
			out = append(out, entry{File: name, Battle: br})
		}
	}
	return out, nil
}

func names(t *testing.T, s *Spool) []string {
	t.Helper()
	entries, err := s.Entries()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Battle.Name)
	}
	return out
}

func TestPutKeepsArrivalOrderAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 { // past 9 and 10: the order is numeric, not by text length
		if err := s.Put(battleNamed(fmt.Sprintf("b%02d-%c", i, 'z'-i))); err != nil {
			t.Fatal(err)
		}
	}
	// A crash: the process ends, a new one opens the spool and puts more.
	again, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Put(battleNamed("b12-after")); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(names(t, again), " ")
	want := "b00-z b01-y b02-x b03-w b04-v b05-u b06-t b07-s b08-r b09-q b10-p b11-o b12-after"
	if got != want {
		t.Fatalf("order %q, want %q", got, want)
	}
	if again.Len() != 13 || again.Bytes() <= 0 {
		t.Fatalf("Len %d, Bytes %d", again.Len(), again.Bytes())
	}
	entries, _ := again.Entries()
	if err := again.Done(entries[0].File); err != nil {
		t.Fatal(err)
	}
	if n := len(names(t, again)); n != 12 {
		t.Fatalf("%d left after Done, want 12", n)
	}
	reopened, _ := Open(dir, 1<<20)
	if reopened.Len() != 12 || reopened.Bytes() != again.Bytes() {
		t.Fatalf("reopened: %d battles, %d bytes; want %d, %d", reopened.Len(), reopened.Bytes(), 12, again.Bytes())
	}
}

func TestSizeBound(t *testing.T) {
	s, err := Open(t.TempDir(), 600)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; n < 100; n++ {
		if err := s.Put(battleNamed(fmt.Sprintf("b%d", n))); err != nil {
			if !errors.Is(err, ErrFull) {
				t.Fatal(err)
			}
			break
		}
	}
	if n == 0 || n == 100 || s.Bytes() > 600 {
		t.Fatalf("%d battles fit in 600 bytes (%d spooled)", n, s.Bytes())
	}
	entries, _ := s.Entries()
	if err := s.Done(entries[0].File); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(battleNamed("after-done")); err != nil {
		t.Fatalf("a battle taken out frees its room: %v", err)
	}
}

func TestConcurrentPutsStayWithinTheBound(t *testing.T) {
	s, err := Open(t.TempDir(), 10_000)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() { _ = s.Put(battleNamed(fmt.Sprintf("c%03d", i))) })
	}
	wg.Wait()
	var onDisk int64
	entries, _ := s.Entries()
	for _, e := range entries {
		info, err := os.Stat(filepath.Join(s.dir, e.File))
		if err != nil {
			t.Fatal(err)
		}
		onDisk += info.Size()
	}
	if onDisk > 10_000 || onDisk != s.Bytes() || len(entries) != s.Len() {
		t.Fatalf("%d bytes on disk in %d files; the spool counts %d bytes, %d battles", onDisk, len(entries), s.Bytes(), s.Len())
	}
}

func TestCrashLeftoversAndBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, 1<<20)
	if err := s.Put(battleNamed("kept")); err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of a Put leaves a temporary file; a broken file is moved aside;
	// a file that is not the spool's stays untouched.
	for name, data := range map[string]string{
		"00000000000000000007-half.json.tmp-123": `{"metadata":`,
		"00000000000000000008-broken.json":       `{"metadata":`,
		"README":                                 "not a battle",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(t, s), " "); got != "kept" {
		t.Fatalf("entries %q, want kept", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000007-half.json.tmp-123")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the half-written file is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, failedDir, "00000000000000000008-broken.json")); err != nil {
		t.Errorf("the broken file was not moved to %s/: %v", failedDir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "README")); err != nil {
		t.Errorf("a file not the spool's was touched: %v", err)
	}
	if err := s.Put(battleNamed("next")); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(t, s), " "); got != "kept next" {
		t.Fatalf("entries %q: a Put after a reopen goes after the battles before", got)
	}
}

func TestOpenRefusesAZeroSize(t *testing.T) {
	if _, err := Open(t.TempDir(), 0); err == nil {
		t.Fatal("a spool of 0 bytes was opened")
	}
}

// TestABattleKeepsItsNamespace: a spooled battle is read back into the namespace it was
// received for, whatever the next process's flags say: the spool holds the whole object, and
// the replay creates it as it is.
func TestABattleKeepsItsNamespace(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"app-a", "app-b"} {
		br := battleNamed("in-" + ns)
		br.Namespace = ns
		if err := s.Put(br); err != nil {
			t.Fatal(err)
		}
	}
	reopened, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := reopened.Entries()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Battle.Namespace+"/"+e.Battle.Name)
	}
	if want := []string{"app-a/in-app-a", "app-b/in-app-b"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("read back %v, want %v", got, want)
	}
}
