package reaction

import (
	"sync"

	"github.com/google/cel-go/cel"
)

// maxCompiled bounds the expressions kept compiled: far more than the reactions of a cluster,
// so that only a stream of edits ever fills it.
const maxCompiled = 1024

// compiled holds the process's compiled expressions.
var compiled compiledExpressions

// compiledExpressions remembers, by expression text, the program it compiled to or why it
// does not compile. Compiling (and trying the result on the 100-room sample battle) costs
// milliseconds; a reaction is reconciled for every battle, so it is done once per expression.
// A program is safe to evaluate from many goroutines. When full, it starts again empty.
type compiledExpressions struct {
	mu       sync.Mutex
	programs map[string]compiledExpression
}

type compiledExpression struct {
	program cel.Program
	err     error
}

// get is the expression's program, compiled by compile the first time.
func (c *compiledExpressions) get(expression string, compile func(string) (cel.Program, error)) (cel.Program, error) {
	c.mu.Lock()
	e, ok := c.programs[expression]
	c.mu.Unlock()
	if ok {
		return e.program, e.err
	}
	// Compiled outside the lock: two goroutines may both compile a new expression once.
	e.program, e.err = compile(expression)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.programs == nil || len(c.programs) >= maxCompiled {
		c.programs = map[string]compiledExpression{}
	}
	c.programs[expression] = e
	return e.program, e.err
}
