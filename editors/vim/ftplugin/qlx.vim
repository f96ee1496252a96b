" Vim filetype plugin
" Language:    Qlynix model (.qlx)
" Maintainer:  the Qlynix project (editors/vim/README.md)
"
" Comments, folding by record, `gq` through `qlxc fmt -` and `:make`
" through `qlxc check`.  g:qlxc_program names the compiler when it is not
" `qlxc` on $PATH; g:qlx_no_fold = 1 leaves folding alone.

if exists('b:did_ftplugin')
  finish
endif
let b:did_ftplugin = 1
let s:cpo_save = &cpo
set cpo&vim

setlocal commentstring=;\ %s
setlocal comments=:;
" wrap comments, not code; continue a comment on a new line
setlocal formatoptions-=t formatoptions+=croql
" gf on `$INCLUDE two_cmt` finds two_cmt.qlx
setlocal suffixesadd=.qlx
let b:undo_ftplugin = 'setlocal commentstring< comments< formatoptions< suffixesadd<'
      \ . ' formatprg< makeprg< errorformat<'
" the formatter's two-space steps, unless g:qlx_recommended_style = 0
if get(g:, 'qlx_recommended_style', 1)
  setlocal expandtab shiftwidth=2 softtabstop=2
  let b:undo_ftplugin .= ' expandtab< shiftwidth< softtabstop<'
endif

" One fold per record: a line that starts with `$` opens one, which runs to
" the next (the records' own rule).  The comment block above the first
" record is outside every fold.
if !get(g:, 'qlx_no_fold', 0)
  setlocal foldmethod=expr
  let &l:foldexpr = "getline(v:lnum) =~# '^\\s*\\$\\h' ? '>1' : '='"
  let b:undo_ftplugin .= ' | setlocal foldmethod< foldexpr<'
endif

" gq formats through the formatter, which reads the model on stdin.  On a
" syntax error qlxc gives its input back unchanged and exits 1; its message
" goes to stderr, which a filter would otherwise put into the buffer (the
" shell's `>file 2>&1`), so it is dropped: `:make` shows it.
let s:qlxc = get(g:, 'qlxc_program', 'qlxc')
let &l:formatprg = s:qlxc . ' fmt - 2>/dev/null'
let &l:makeprg = s:qlxc . ' check %:S'
" file:LINE:COL: error|warning|note: message, then the source line and a
" caret (dropped) and perhaps `hint: ...` (kept, as a continuation)
setlocal errorformat=%E%f:%l:%c:\ error:\ %m,%W%f:%l:%c:\ warning:\ %m,%N%f:%l:%c:\ note:\ %m,
      \%+Chint:\ %.%#,%-C\ %.%#,%-G%.%#

let &cpo = s:cpo_save
unlet s:cpo_save
