"""Templating: the `{{ ... }}` expression language, its parser, rewriting and rendering.

Owns the template AST (text parts and expressions), parsing with offsets for error
positions, `to_source` for the compiler's rewriting, static reference walking for the
validator, the pure functions (`uuid()`, `now()`, `random_int(a,b)`, `base64(x)`,
`urlencode(x)`, `concat(...)`) and typed rendering against a Scope.

A template that is exactly one expression keeps the value's type; otherwise the parts
render to text. Expressions have references (`steps.login.outputs.token`,
`steps.x.body.items[0]`), literals, function calls, comparisons and `and`/`or`/`not`.
No arbitrary code runs.

Modules: `syntax` (AST, parser), `rendering` (to_text, evaluation against a Scope, the
functions) and `rewrite` (normalising, the compiler's substitution, walking references
and calls, strings_in). This package re-exports the names the rest of reqflo imports.
"""

from reqflo.values.rendering import (
    FUNCTIONS,
    Scope,
    UnresolvedReference,
    compact_json,
    evaluate,
    render,
    render_value,
    to_text,
)
from reqflo.values.rewrite import (
    make_template,
    strings_in,
    substitute,
    template_calls,
    template_refs,
)
from reqflo.values.syntax import (
    BoolOp,
    Call,
    Compare,
    Expr,
    Literal,
    Not,
    Ref,
    Template,
    TemplateSyntaxError,
    parse_expression,
    parse_template,
)

__all__ = [
    "FUNCTIONS",
    "BoolOp",
    "Call",
    "Compare",
    "Expr",
    "Literal",
    "Not",
    "Ref",
    "Scope",
    "Template",
    "TemplateSyntaxError",
    "UnresolvedReference",
    "compact_json",
    "evaluate",
    "make_template",
    "parse_expression",
    "parse_template",
    "render",
    "render_value",
    "strings_in",
    "substitute",
    "template_calls",
    "template_refs",
    "to_text",
]
