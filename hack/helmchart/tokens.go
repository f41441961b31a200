package main

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// A chart template is written as YAML with placeholders, marshalled, and then the
// placeholders are replaced by Helm template text. Three kinds:
//   - an expression token, inside any string value: becomes {{ action }};
//   - a line token, a map key: its whole line becomes template lines (optional keys, label
//     includes);
//   - a block token, a map value: the key stays, and template lines follow it (args built
//     from values, toYaml of a value).
//
// Tokens are lowercase letters and digits, so YAML leaves them unquoted, and they are
// numbered in the order they are made: the same input gives the same files.
type tmpl struct {
	n      int
	exprs  map[string]string // token → action
	byExpr map[string]string // action → token, so one action has one token
	lines  map[string]func(col int) []string
	blocks map[string]func(col int) []string
}

// exprRE matches an expression token.
var exprRE = regexp.MustCompile(`xhelmx[0-9]{4}x`)

func newTmpl() *tmpl {
	return &tmpl{exprs: map[string]string{}, byExpr: map[string]string{},
		lines: map[string]func(int) []string{}, blocks: map[string]func(int) []string{}}
}

// expr returns a token that becomes {{ action }}.
func (t *tmpl) expr(action string) string {
	if tok, ok := t.byExpr[action]; ok {
		return tok
	}
	t.n++
	tok := fmt.Sprintf("xhelmx%04dx", t.n)
	t.exprs[tok], t.byExpr[action] = action, tok
	return tok
}

// line returns a map key whose line becomes f(col), col being the key's column. The key
// sorts last in its map, so it never starts a list item.
func (t *tmpl) line(f func(col int) []string) string {
	t.n++
	tok := fmt.Sprintf("zzhelmline%04d", t.n)
	t.lines[tok] = f
	return tok
}

// block returns a value token: its line keeps the key, and f(col) follows it.
func (t *tmpl) block(f func(col int) []string) string {
	t.n++
	tok := fmt.Sprintf("zzhelmblock%04d", t.n)
	t.blocks[tok] = f
	return tok
}

// render marshals obj and turns its tokens into template text. Any "{{" that was in the
// object is escaped, so Helm prints it as it was.
func (t *tmpl) render(obj any) (string, error) {
	b, err := yaml.Marshal(obj)
	if err != nil {
		return "", err
	}
	return t.apply(string(b))
}

func (t *tmpl) apply(text string) (string, error) {
	text = strings.ReplaceAll(text, "{{", `{{ "{{" }}`)
	lines, err := t.expand(strings.Split(strings.TrimSuffix(text, "\n"), "\n"))
	if err != nil {
		return "", err
	}
	text = strings.Join(lines, "\n") + "\n"
	return exprRE.ReplaceAllStringFunc(text, func(tok string) string {
		if action, ok := t.exprs[tok]; ok {
			return "{{ " + action + " }}"
		}
		return tok
	}), nil
}

// expand replaces line and block tokens, also in the lines they bring.
func (t *tmpl) expand(lines []string) ([]string, error) {
	var out []string
	for _, line := range lines {
		rest := strings.TrimLeft(line, " ")
		col := len(line) - len(rest)
		item := strings.HasPrefix(rest, "- ")
		if item {
			col += 2
			rest = rest[2:]
		}
		key, value, _ := strings.Cut(rest, ":")
		value = strings.TrimSpace(value)
		var add []string
		if f, ok := t.lines[key]; ok {
			if item {
				return nil, fmt.Errorf("line token %s starts a list item", key)
			}
			add = indent(col, f(col))
		} else if f, ok := t.blocks[value]; ok {
			out = append(out, strings.TrimSuffix(line, " "+value))
			add = indent(col, f(col))
		} else {
			out = append(out, line)
			continue
		}
		more, err := t.expand(add)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

// indent puts col spaces before every line but those starting with "{{-", which trim the
// space before them anyway.
func indent(col int, lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		if strings.HasPrefix(l, "{{-") {
			out[i] = l
		} else {
			out[i] = strings.Repeat(" ", col) + l
		}
	}
	return out
}

// items marshals v, a list, into its lines ("- a", "  b: c"), any "{{" escaped.
func items(v any) []string {
	b, err := yaml.Marshal(v)
	if err != nil {
		panic(err) // maps and lists decoded from YAML always marshal
	}
	text := strings.ReplaceAll(strings.TrimSuffix(string(b), "\n"), "{{", `{{ "{{" }}`)
	return strings.Split(text, "\n")
}

// when wraps lines in {{- if cond }} … {{- end }}; no cond: lines as they are.
func when(cond string, lines []string) []string {
	if cond == "" {
		return lines
	}
	return append(append([]string{"{{- if " + cond + " }}"}, lines...), "{{- end }}")
}

// and joins conditions.
func and(conds ...string) string {
	var cs []string
	for _, c := range conds {
		if c != "" {
			cs = append(cs, c)
		}
	}
	switch len(cs) {
	case 0:
		return ""
	case 1:
		return cs[0]
	}
	for i, c := range cs {
		if strings.Contains(c, " ") {
			cs[i] = "(" + c + ")"
		}
	}
	return "and " + strings.Join(cs, " ")
}

// sortedKeys is m's keys in order, so every walk is in the same order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
