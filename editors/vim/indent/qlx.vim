" Vim indent file
" Language:    Qlynix model (.qlx)
" Maintainer:  the Qlynix project (editors/vim/README.md)
"
" The layout `qlxc fmt` writes: a record's `$NAME` at column 0, its lines
" two spaces in, each `{ ... }` block (and NONMEM's IF ... THEN ... ENDIF)
" two more.  A comment block right above a record belongs to that record
" and stays at column 0, as the formatter leaves it.  A statement that goes
" on over several lines (after an operator, `=`, `,` or inside parentheses)
" has its further lines two steps in.

if exists('b:did_indent')
  finish
endif
let b:did_indent = 1

setlocal indentexpr=GetQlxIndent(v:lnum)
setlocal indentkeys=0{,0},0),0$,!^F,o,O,=~else,=~endif
setlocal autoindent
let b:undo_indent = 'setlocal indentexpr< indentkeys< autoindent<'

if exists('*GetQlxIndent')
  finish
endif
let s:cpo_save = &cpo
set cpo&vim

let s:record = '^\s*\$\h'
let s:comment = '^\s*;'

" A line without its comment and trailing blanks.
function! s:Code(lnum) abort
  return substitute(getline(a:lnum), '\s*;.*$', '', '')
endfunction

" The previous line that holds code (not blank, not only a comment); 0 at the top.
function! s:PrevCode(lnum) abort
  let n = prevnonblank(a:lnum - 1)
  while n > 0 && getline(n) =~ s:comment
    let n = prevnonblank(n - 1)
  endwhile
  return n
endfunction

" Does the statement go on past line n: an operator, `=`, `~`, `,` or an
" open parenthesis at its end?  A record line never does ($ESTIMATION's
" options wrap without one).
function! s:Continues(n) abort
  let code = s:Code(a:n)
  if code =~ s:record
    return 0
  endif
  let open = len(substitute(code, '[^(]', '', 'g')) - len(substitute(code, '[^)]', '', 'g'))
  return open > 0 || code =~ '\%([-+*/^=~,(<>&|]\|\.\a\{2,3}\.\)\s*$'
endfunction

function! GetQlxIndent(lnum) abort
  let line = getline(a:lnum)
  if line =~ '^\s*\$'                 " a record, or one being typed
    return 0
  endif
  if line =~ s:comment
    " a comment block right above a record goes with it, at column 0
    let n = a:lnum + 1
    while n <= line('$') && getline(n) =~ s:comment
      let n += 1
    endwhile
    if n <= line('$') && getline(n) =~ s:record
      return 0
    endif
  endif
  let prev = s:PrevCode(a:lnum)
  if prev == 0
    return 0                          " above the first record
  endif
  if getline(prev) =~ s:record
    return 2                          " the first line of a record's body
  endif
  " the statement that prev belongs to starts at its first line
  let start = prev
  let above = s:PrevCode(start)
  while above > 0 && s:Continues(above)
    let start = above
    let above = s:PrevCode(start)
  endwhile
  let ind = indent(start)
  if s:Continues(prev)
    return ind + 4
  endif
  let code = s:Code(prev)
  if code =~ '{\s*$' || code =~? '\<then\s*$' || code =~? '^\s*else\s*$'
    let ind += 2
  endif
  let cur = substitute(line, '\s*;.*$', '', '')
  if cur =~ '^\s*}'
    let ind -= 2
  elseif cur =~? '^\s*\%(else\|endif\)\>' && code !~ '^\s*}'
    " NONMEM's ELSE and ENDIF close the block above; `else` after a `}`
    " line stays where the `}` is
    let ind -= 2
  endif
  return max([ind, 2])
endfunction

let &cpo = s:cpo_save
unlet s:cpo_save
