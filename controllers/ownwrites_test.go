package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	livev1alpha1 "github.com/battleops/battle-operator/api/v1alpha1"
)

// TestOwnWritesStandInForAStaleCache: after a status write, a cache that still shows the
// replaced version gets the written copy; once it shows the write, or anything newer (an edit
// of the spec), the cache's own object is used and the copy forgotten.
func TestOwnWritesStandInForAStaleCache(t *testing.T) {
	t.Parallel()
	version := func(rv string, jobs int64) *livev1alpha1.BattleReaction {
		return &livev1alpha1.BattleReaction{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "rx", UID: "rx-1", ResourceVersion: rv},
			Status: livev1alpha1.BattleReactionStatus{JobsStarted: jobs}}
	}
	var w ownWrites[*livev1alpha1.BattleReaction]
	if got := w.latest(version("10", 1)); got.ResourceVersion != "10" {
		t.Fatalf("nothing written: got %s, want the cache's", got.ResourceVersion)
	}
	w.wrote(version("11", 2), "10")
	got := w.latest(version("10", 1))
	if got.ResourceVersion != "11" || got.Status.JobsStarted != 2 {
		t.Fatalf("a stale cache: got version %s with %d Jobs, want the written 11 with 2", got.ResourceVersion, got.Status.JobsStarted)
	}
	got.Status.JobsStarted = 99 // a copy: the remembered write does not change
	if again := w.latest(version("10", 1)); again.Status.JobsStarted != 2 {
		t.Fatalf("the remembered write changed to %d Jobs", again.Status.JobsStarted)
	}
	if got := w.latest(version("11", 2)); got.ResourceVersion != "11" {
		t.Fatalf("a cache that caught up: got %s", got.ResourceVersion)
	}
	if got := w.latest(version("10", 1)); got.ResourceVersion != "10" {
		t.Fatal("the write is remembered after the cache showed it")
	}
	w.wrote(version("13", 3), "12")
	if got := w.latest(version("14", 3)); got.ResourceVersion != "14" { // an edit after our write
		t.Fatalf("a newer version than the write: got %s, want the cache's 14", got.ResourceVersion)
	}
	w.wrote(version("11", 2), "10")
	recreated := version("10", 0) // deleted and created again: the same name, another UID
	recreated.UID = "rx-2"
	if got := w.latest(recreated); got.UID != "rx-2" || got.Status.JobsStarted != 0 {
		t.Fatal("a new reaction of the same name got the old one's write")
	}
	w.wrote(version("11", 2), "10")
	w.forget(types.NamespacedName{Namespace: "ns", Name: "rx"})
	if got := w.latest(version("10", 1)); got.ResourceVersion != "10" {
		t.Fatal("a forgotten write still stands in")
	}
}
