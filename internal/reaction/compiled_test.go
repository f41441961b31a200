package reaction

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/cel-go/cel"
	"k8s.io/utils/lru"
)

func TestCompiledExpressionsCompileOnce(t *testing.T) {
	c := compiledExpressions{lru.New(maxCompiled)}
	calls := map[string]int{}
	compile := func(expression string) (cel.Program, error) {
		calls[expression]++
		if expression == "bad" {
			return nil, errors.New("does not compile")
		}
		return compileExpression(expression)
	}
	for range 3 {
		if prg, err := c.get("true", compile); err != nil || prg == nil {
			t.Fatalf("get(true) = %v, %v", prg, err)
		}
		if _, err := c.get("bad", compile); err == nil {
			t.Fatal("get(bad) gave no error")
		}
	}
	if calls["true"] != 1 || calls["bad"] != 1 {
		t.Errorf("compiled %v, want each expression once (its error remembered too)", calls)
	}
	// Memory stays bounded by maxCompiled.
	for i := range maxCompiled + 10 {
		_, _ = c.get(fmt.Sprint("x", i), func(string) (cel.Program, error) { return nil, nil })
	}
	if n := c.cache.Len(); n > maxCompiled {
		t.Errorf("%d expressions kept, want at most %d", n, maxCompiled)
	}
}
