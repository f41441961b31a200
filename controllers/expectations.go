package controllers

import (
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/types"
)

// expectations are Jobs known to exist (created, or found existing by a create) but not yet
// seen in the cache, per reaction UID.
type expectations struct {
	mu   sync.Mutex
	jobs map[types.UID]map[string]expectedJob
}

type expectedJob struct {
	job *batchv1.Job
	at  time.Time
}

// expectationTTL bounds how long a created Job is assumed to exist without the cache showing it.
const expectationTTL = time.Minute

func (e *expectations) add(uid types.UID, job *batchv1.Job, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.jobs == nil {
		e.jobs = map[types.UID]map[string]expectedJob{}
	}
	for u, byName := range e.jobs { // forget what is too old, e.g. of deleted reactions
		for name, exp := range byName {
			if now.Sub(exp.at) > expectationTTL {
				delete(byName, name)
			}
		}
		if len(byName) == 0 {
			delete(e.jobs, u)
		}
	}
	if e.jobs[uid] == nil {
		e.jobs[uid] = map[string]expectedJob{}
	}
	e.jobs[uid][job.Name] = expectedJob{job: job.DeepCopy(), at: now}
}

// fill adds to jobs the expected Jobs the cache does not show yet, and forgets those it shows
// (or that are too old to wait for). It returns the Jobs added.
func (e *expectations) fill(uid types.UID, jobs map[string]*batchv1.Job, now time.Time) []*batchv1.Job {
	e.mu.Lock()
	defer e.mu.Unlock()
	var added []*batchv1.Job
	for name, exp := range e.jobs[uid] {
		if _, seen := jobs[name]; seen || now.Sub(exp.at) > expectationTTL {
			delete(e.jobs[uid], name)
			continue
		}
		job := exp.job.DeepCopy()
		jobs[name] = job
		added = append(added, job)
	}
	if len(e.jobs[uid]) == 0 {
		delete(e.jobs, uid)
	}
	return added
}
