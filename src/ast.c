/*
 * ast.c -- facts about syntax-tree operators, shared by the parser's
 * tests, the formatter and the checker's messages.
 */
#include "ast.h"

#include "kw.h"

const char *ast_op_text(AstOp op)
{
    switch (op) {
    case OP_ADD: return "+";
    case OP_SUB: return "-";
    case OP_MUL: return "*";
    case OP_DIV: return "/";
    case OP_POW: return "^";
    case OP_LT: return "<";
    case OP_LE: return "<=";
    case OP_GT: return ">";
    case OP_GE: return ">=";
    case OP_EQ: return "==";
    case OP_NE: return "!=";
    case OP_AND: return "&&";
    case OP_OR: return "||";
    case OP_NEG: return "-";
    case OP_PLUS: return "+";
    case OP_NOT: return "!";
    }
    return "?";
}

/* Binding strength, loosest 1; unary operators bind between * and ^, so
 * -x^2 is -(x^2) and 2*-x is 2*(-x). */
int ast_op_prec(AstOp op)
{
    switch (op) {
    case OP_OR: return 1;
    case OP_AND: return 2;
    case OP_LT: case OP_LE: case OP_GT: case OP_GE: case OP_EQ: case OP_NE: return 3;
    case OP_ADD: case OP_SUB: return 4;
    case OP_MUL: case OP_DIV: return 5;
    case OP_NEG: case OP_PLUS: case OP_NOT: return 6;
    case OP_POW: return 7;
    }
    return 0;
}

int ast_const_number(const Expr *e, double *v)
{
    if (!e)
        return 0;
    if (e->kind == EX_NUM) {
        *v = e->num;
        return 1;
    }
    if (e->kind == EX_UNARY && (e->op == OP_NEG || e->op == OP_PLUS) &&
        ast_const_number(e->lhs, v)) {
        if (e->op == OP_NEG)
            *v = -*v;
        return 1;
    }
    return 0;
}

const Expr *ast_dir_value(const Directive *dir, const char *key)
{
    for (int i = 0; i < dir->nitems; i++) {
        const DirItem *it = &dir->items[i];
        if (it->kind == DI_KEYVAL && kw_strcaseeq(it->key, key))
            return it->expr;
        if (it->kind == DI_EXPR && it->expr && it->expr->kind == EX_NAME &&
            kw_strcaseeq(it->expr->text, key) && i + 1 < dir->nitems)
            return dir->items[i + 1].expr;
    }
    return NULL;
}
