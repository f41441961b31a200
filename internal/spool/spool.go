// Package spool keeps, on a replica's disk, the battles the receiver validated but could not
// store in time (the API server down or slow), so they can be acknowledged and stored later.
//
// Each battle is one file, written to a temporary name, fsync'ed, renamed, and the directory
// fsync'ed: once Put returns, the battle survives a crash of the process or the machine. Files
// are named by arrival (a sequence number that goes on across restarts), and replayed in that
// order. A file left half-written by a crash has a temporary name and is removed at Open.
package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// ErrFull is returned by Put when the battle would take the spool past its size.
var ErrFull = errors.New("the spool is full")

const (
	suffix  = ".json"
	tmpPart = ".tmp-"
	// failedDir holds the battles the API server refused for good: kept for a person to look
	// at, never replayed.
	failedDir = "refused"
)

// Spool is a directory of battles waiting to be stored.
type Spool struct {
	dir      string
	maxBytes int64

	mu    sync.Mutex
	next  uint64 // the sequence number of the next Put
	bytes int64  // the size of the battles spooled
	// sizes are the battles spooled, by file name.
	sizes map[string]int64
}

// Open opens (creating) the spool in dir, holding at most maxBytes of battles. It removes the
// files a crash left half-written.
func Open(dir string, maxBytes int64) (*Spool, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("the spool's size must be positive, got %d", maxBytes)
	}
	if err := os.MkdirAll(filepath.Join(dir, failedDir), 0o700); err != nil {
		return nil, fmt.Errorf("the spool directory: %w", err)
	}
	s := &Spool{dir: dir, maxBytes: maxBytes, sizes: map[string]int64{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("the spool directory: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case e.IsDir():
		case strings.Contains(name, tmpPart):
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return nil, err
			}
		case strings.HasSuffix(name, suffix):
			seq, ok := sequence(name)
			if !ok {
				continue // not ours
			}
			info, err := e.Info()
			if err != nil {
				return nil, err
			}
			s.sizes[name] = info.Size()
			s.bytes += info.Size()
			s.next = max(s.next, seq+1)
		}
	}
	return s, nil
}

// sequence reads the sequence number a spool file's name starts with.
func sequence(name string) (uint64, bool) {
	head, _, ok := strings.Cut(name, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(head, 10, 64)
	return n, err == nil
}

// Put writes the battle durably, after every battle put before it.
func (s *Spool) Put(br *livev1alpha1.BattleResult) error {
	data, err := json.Marshal(br)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.bytes+int64(len(data)) > s.maxBytes {
		s.mu.Unlock()
		return ErrFull
	}
	seq := s.next
	s.next++
	name := fmt.Sprintf("%020d-%s%s", seq, br.Name, suffix)
	s.sizes[name] = int64(len(data)) // reserved, so concurrent Puts stay within the size
	s.bytes += int64(len(data))
	s.mu.Unlock()

	if err := s.write(name, data); err != nil {
		s.forget(name)
		return err
	}
	return nil
}

func (s *Spool) write(name string, data []byte) error {
	tmp, err := os.CreateTemp(s.dir, name+tmpPart+"*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(s.dir, name))
	}
	if err == nil {
		err = syncDir(s.dir)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("spooling: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Files returns the names of the battles spooled, in arrival order.
func (s *Spool) Files() []string {
	s.mu.Lock()
	names := make([]string, 0, len(s.sizes))
	for name := range s.sizes {
		names = append(names, name)
	}
	s.mu.Unlock()
	slices.Sort(names) // the sequence numbers are zero-padded: arrival order
	return names
}

// Read reads one spooled battle; ok is false when its file is not there yet (its Put has not
// renamed it) or was broken (moved aside to refused/).
func (s *Spool) Read(name string) (br *livev1alpha1.BattleResult, ok bool, err error) {
	data, err := os.ReadFile(filepath.Join(s.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	br = &livev1alpha1.BattleResult{}
	if err := json.Unmarshal(data, br); err != nil || br.Name == "" || br.Namespace == "" {
		return nil, false, s.Refuse(name)
	}
	return br, true, nil
}

// Done removes a battle that is stored now.
func (s *Spool) Done(file string) error {
	if err := os.Remove(filepath.Join(s.dir, file)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s.forget(file)
	return syncDir(s.dir)
}

// Refuse moves a battle the API server will never store to refused/, out of the replay.
func (s *Spool) Refuse(file string) error {
	if err := os.Rename(filepath.Join(s.dir, file), filepath.Join(s.dir, failedDir, file)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s.forget(file)
	return syncDir(s.dir)
}

func (s *Spool) forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bytes -= s.sizes[name]
	delete(s.sizes, name)
}

// Len and Bytes are the battles spooled and their size.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sizes)
}

// Bytes is the size of the battles spooled.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}
