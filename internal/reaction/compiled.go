package reaction

import (
	"github.com/google/cel-go/cel"
	"k8s.io/utils/lru"
)

// maxCompiled bounds the expressions kept compiled: far more than the reactions of a cluster,
// so that only a stream of edits ever evicts one.
const maxCompiled = 1024

// compiled holds the process's compiled expressions, by expression text: the program it
// compiled to, or why it does not compile. Compiling (and trying the result on the 100-room
// sample battle) costs milliseconds; a reaction is reconciled for every battle, so it is done
// once per expression. A program is safe to evaluate from many goroutines.
var compiled = compiledExpressions{lru.New(maxCompiled)}

type compiledExpressions struct{ cache *lru.Cache }

type compiledExpression struct {
	program cel.Program
	err     error
}

// get is the expression's program, compiled by compile the first time. Two goroutines may
// both compile a new expression once.
func (c compiledExpressions) get(expression string, compile func(string) (cel.Program, error)) (cel.Program, error) {
	if e, ok := c.cache.Get(expression); ok {
		return e.(compiledExpression).program, e.(compiledExpression).err
	}
	var e compiledExpression
	e.program, e.err = compile(expression)
	c.cache.Add(expression, e)
	return e.program, e.err
}
