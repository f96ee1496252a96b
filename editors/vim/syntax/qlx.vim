" Vim syntax file
" Language:    Qlynix model (.qlx)
" Maintainer:  the Qlynix project (editors/vim/README.md)
"
" syntax/qlx.vim is made from syntax/qlx.vim.in by `make editors`, which
" puts lang/keywords.def's word lists where the template has @ @KIND:FORMAT@ @
" (without the blanks): edit the template, never the .vim, so that the
" words highlighted here are the words the lexer and the checker know.
"
" The idea: each record is a region from its `$NAME` to the line before
" the next line that starts with `$`, and each kind of record holds its own
" items.  That is what lets `tka` before `=` be a parameter in $THETA and
" a plain name in $PK, `depot` a compartment in $COMPARTMENTS, and METHOD
" an option on $ESTIMATION's line.  keywords.def lists its words by kind,
" not by record, so the few record names below that choose a region are
" written out; any other record of RECORDS still gets qlxRecord.

if exists('b:current_syntax')
  finish
endif
let s:cpo_save = &cpo
set cpo&vim

syn iskeyword @,48-57,_,192-255
syn spell notoplevel
" a record's region starts at its `$`, possibly far above: models are short
syn sync fromstart
" record, option, function and reserved names are case-insensitive; the
" names a model declares are case-sensitive, but they are found by place
syn case ignore

" --- pieces shared by the records ---------------------------------------------
syn match   qlxComment     /;.*$/ contains=@Spell
" text outside any record, and `$` without a name: the parser's "expected a
" record"; inside $PROBLEM, a line after the title
syn match   qlxError       /^\s*\zs\%([^;$[:space:]]\|\$\h\@!\).*/
syn match   qlxBadString   /"[^"]*$/ contained
syn match   qlxString      /"[^"]*"/ contained
" 1  0.45  .5  5.  1e-3  2.5E+2  1d-3  1.5D0: no sign, as in the lexer
syn match   qlxNumber      /\<\d\+\%(\.\d*\)\=\%([ed][-+]\=\d\+\)\=\w\@!/ contained
syn match   qlxNumber      /\%(\w\|\.\)\@<!\.\d\+\%([ed][-+]\=\d\+\)\=\w\@!/ contained
" .EQ. .AND. ...: any dotted word, so no operator list to keep in step
syn match   qlxOperator    /\.\a\{2,3}\./ contained
syn match   qlxOperator    /->/ contained
syn case match
syn keyword qlxBuiltin     TIME T contained
syn case ignore
syn keyword qlxTableItem   ID TIME DV PRED IPRED RES WRES CWRES IWRES NPDE ETAS EPRED contained
syn keyword qlxDataItem    ID TIME DV AMT EVID MDV CMT RATE II ADDL SS DVID contained
" a reserved word; TRANSFORM=softplus on a $THETA line takes a value
syn keyword qlxKeyword     if then else endif FIX FIXED BLOCK SD CORRELATION TRANSFORM DROP contained nextgroup=qlxKwEq skipwhite
syn match   qlxKwEq        /=/ contained nextgroup=qlxOptionValue skipwhite

" NAME=value or a flag, on the records that take options; the value is a
" word of its enum, a number, a string, a bare path or character
" (FILE=sdtab.csv, IGNORE=@), or a list (IGNORE=(DOSE.EQ.0), DERIVED=(WTR))
syn keyword qlxOption      IGNORE ACCEPT FORMAT RECORDS METHOD INTERACTION MAXEVAL PRINT SIGDIG SEED NBURN NITER ISAMPLE LR EPOCHS SOLVER INTEGRATOR RTOL ATOL POSTHOC NOABORT MAXSTEPS MATRIX UNCONDITIONAL FILE NOPRINT ONEHEADER ESAMPLE N RESIDUAL UNCERTAINTY NORMALIZE SUBJECT DERIVED contained nextgroup=qlxOptEq skipwhite
syn match   qlxOptEq       /=/ contained skipwhite
      \ nextgroup=qlxOptionValue,qlxString,qlxBadString,qlxNumber,qlxValue,qlxList
syn keyword qlxOptionValue AUTO CSV SPACE FO FOCE FOCEI LAPLACE SAEM IMP ADAM LBFGS ODE CLOSED BDF ADAMS R S SANDWICH YES NO contained
syn keyword qlxOptionValue none softplus log contained
syn match   qlxValue       /[^[:space:];=()"]\+/ contained contains=qlxNumber
syn region  qlxList        matchgroup=qlxDelimiter start=/(/ end=/)/ contained
      \ contains=qlxOperator,qlxNumber,qlxString,qlxDataItem,qlxComment

" --- code: $PK $DES $ERROR $HYBRID ------------------------------------------------
syn match   qlxFunction    /\v<(softplus|log10|logit|expit|sqrt|tanh|exp|log|abs|pow|min|max|sin|cos|phi)>\ze\s*\(/ contained
" lua.name(...): a function of the $LUA script
syn match   qlxFunction    /\<\h\w*\.\h\w*\ze\s*(/ contained
" THETA(1) ETA(2) EPS(1) A(2) DADT(1)
syn match   qlxIndexed     /\v<(THETA|DADT|ETA|EPS|ERR|A)>\ze\s*\(/ contained
" d/dt(central): the derivative and the compartment it is of
syn match   qlxDdt         "\<d/dt\>" contained nextgroup=qlxDdtOf skipwhite
syn match   qlxDdtOf       /(\s*\h\w*\s*)/ contained contains=qlxCompartment
syn cluster qlxCode        contains=qlxComment,qlxString,qlxBadString,qlxNumber,qlxOperator,
      \qlxFunction,qlxIndexed,qlxDdt,qlxKeyword,qlxBuiltin,qlxDataItem

" --- words of one record ------------------------------------------------------
syn match   qlxTitle       /\%(\$\h\w*\s*\)\@<=\S.*/ contained contains=@Spell
" the file of $DATA, $LUA and $INCLUDE: the first word after the name
syn match   qlxPath        /\%(^\s*\$\h\w*\s\+\)\@<=[^[:space:];=()"]\+/ contained
" $COMPARTMENTS depot(dose) central(observe), or NONMEM's COMP=(DEPOT DEFDOSE)
syn match   qlxCompartment /\<\h\w*\>/ contained
syn match   qlxCmtKey      /\<\h\w*\ze\s*=/ contained
syn keyword qlxRole        dose observe DEFDOSE DEFOBSERVATION DEFOBS contained
syn region  qlxRoles       matchgroup=qlxDelimiter start=/(/ end=/)/ contained
      \ contains=qlxRole,qlxComment
syn region  qlxCmtList     matchgroup=qlxDelimiter start=/=\s*(/ end=/)/ contained
      \ contains=qlxRole,qlxCompartment,qlxComment
" a parameter where it is declared: before `=` in $THETA, before `~` in
" $OMEGA, $SIGMA (BLOCK(2) eta_cl eta_v ~ ...) and $PRIOR
syn match   qlxParameter   /\<\h\w*\ze\s*=/ contained
syn match   qlxParameter   /\<\h\w*\>\ze[^~;]*\~/ contained
syn match   qlxDist        /\v<(lognormal|iwishart|normal)>\ze\s*\(/ contained
" the options on a record's own line ($SIMULATION N=1000, $LOSS NORMALIZE=YES)
syn match   qlxHeader      /\%(\$\h\w*\)\@<=.*/ contained
      \ contains=qlxOption,qlxComment,qlxString,qlxNumber
" $QUANTUM q, $NETWORK net: the name of the branch
syn match   qlxBranch      /\%(\$\h\w*\s\+\)\@<=\h\w*/ contained
" the directive that starts a line of $QUANTUM $NETWORK $LOSS $SIMULATION
syn match   qlxDirective   /\v^\s*\zs<(POPULATION|SCENARIO|ENDPOINT|MEASURE|OUTPUTS|PHYSICS|INITIAL|REGIMEN|QUBITS|ENCODE|ANSATZ|INPUTS|TARGET|SHOTS|DENSE|PRIOR|TIMES|SEED|DATA|FIND|VPC)>/ contained
syn match   qlxRecordFunc  /\v<(strongly_entangling|basic_entangler|amplitude|linear|euler|rx|ry|rz|x|y|z)>\ze\s*\(/ contained
syn keyword qlxRecordWord  tanh relu sigmoid softplus identity contained
" $SIMULATION's lines take any call (seq, uniform, trough), written without a
" blank before its `(` (OVER (0, 24) is a keyword and a tuple): the engine reads them
syn match   qlxCall        /\<\h\w*\ze(/ contained

" --- the records ---------------------------------------------------------------
" A record's region runs to the end of the line before the next `$` line
" (keepend: an unclosed `(` stops there too).  Unknown names first: a later
" definition wins at the same place, so only names nobody knows stay red.
syn region  qlxRecUnknown  matchgroup=qlxError start=/^\s*\$\h\w*/
      \ end=/\ze\n\s*\$/ keepend contains=qlxComment,qlxString,qlxNumber
syn region  qlxRecOther    matchgroup=qlxRecord start=/\v^\s*\$(COMPARTMENTS|SUBROUTINES|ESTIMATION|COVARIANCE|SIMULATION|PROBLEM|QUANTUM|NETWORK|INCLUDE|HYBRID|SOLVER|INPUT|THETA|OMEGA|SIGMA|PRIOR|ERROR|TABLE|PROBL|MODEL|DATA|LOSS|PROB|COMP|PRED|ESTM|DES|LUA|INP|THE|OME|SIG|ERR|EST|COV|SIM|TAB|PK)>/
      \ end=/\ze\n\s*\$/ keepend contains=@qlxCode,qlxOption
syn region  qlxRecProblem  matchgroup=qlxRecord start=/^\s*\$\%(PROBLEM\|PROBL\|PROB\)\>/
      \ end=/\ze\n\s*\$/ keepend contains=qlxTitle,qlxComment,qlxError
syn region  qlxRecPath     matchgroup=qlxRecord start=/^\s*\$\%(INCLUDE\|DATA\|LUA\)\>/
      \ end=/\ze\n\s*\$/ keepend contains=qlxPath,qlxString,qlxBadString,qlxOption,qlxComment
syn region  qlxRecInput    matchgroup=qlxRecord start=/^\s*\$\%(INPUT\|INP\)\>/
      \ end=/\ze\n\s*\$/ keepend contains=qlxDataItem,qlxKeyword,qlxComment
syn region  qlxRecCmt      matchgroup=qlxRecord start=/^\s*\$\%(COMPARTMENTS\|MODEL\|COMP\)\>/
      \ end=/\ze\n\s*\$/ keepend
      \ contains=qlxCompartment,qlxCmtKey,qlxRoles,qlxCmtList,qlxComment
syn region  qlxRecTheta    matchgroup=qlxRecord start=/^\s*\$\%(THETA\|THE\)\>/
      \ end=/\ze\n\s*\$/ keepend contains=qlxParameter,qlxNumber,qlxKeyword,qlxComment
syn region  qlxRecRandom   matchgroup=qlxRecord start=/^\s*\$\%(OMEGA\|SIGMA\|OME\|SIG\)\>/
      \ end=/\ze\n\s*\$/ keepend contains=qlxParameter,qlxNumber,qlxKeyword,qlxComment
syn region  qlxRecPrior    matchgroup=qlxRecord start=/^\s*\$\%(PRIOR\)\>/
      \ end=/\ze\n\s*\$/ keepend contains=qlxParameter,qlxDist,qlxNumber,qlxComment
syn region  qlxRecCode     matchgroup=qlxRecord start=/^\s*\$\%(ERROR\|PRED\|DES\|ERR\|PK\)\>/
      \ end=/\ze\n\s*\$/ keepend contains=@qlxCode
syn region  qlxRecHybrid   matchgroup=qlxRecord start=/^\s*\$\%(HYBRID\)\>/
      \ end=/\ze\n\s*\$/ keepend contains=@qlxCode,qlxRecordFunc
syn region  qlxRecQuantum  matchgroup=qlxRecord start=/^\s*\$\%(QUANTUM\)\>/
      \ end=/\ze\n\s*\$/ keepend
      \ contains=qlxBranch,qlxDirective,qlxRecordFunc,qlxNumber,qlxOperator,qlxBuiltin,
      \qlxDataItem,qlxComment
syn region  qlxRecNetwork  matchgroup=qlxRecord start=/^\s*\$\%(NETWORK\)\>/
      \ end=/\ze\n\s*\$/ keepend
      \ contains=qlxBranch,qlxDirective,qlxRecordWord,qlxNumber,qlxOperator,qlxBuiltin,
      \qlxDataItem,qlxComment
syn region  qlxRecLoss     matchgroup=qlxRecord start=/^\s*\$\%(LOSS\)\>/
      \ end=/\ze\n\s*\$/ keepend contains=qlxHeader,qlxDirective,qlxNumber,qlxComment
syn region  qlxRecSim      matchgroup=qlxRecord start=/^\s*\$\%(SIMULATION\|SIM\)\>/
      \ end=/\ze\n\s*\$/ keepend
      \ contains=qlxHeader,qlxDirective,qlxCall,qlxDist,qlxFunction,qlxNumber,qlxString,
      \qlxOperator,qlxBuiltin,qlxDataItem,qlxComment
syn region  qlxRecOptions  matchgroup=qlxRecord
      \ start=/^\s*\$\%(ESTIMATION\|COVARIANCE\|ESTM\|EST\|COV\)\>/
      \ end=/\ze\n\s*\$/ keepend contains=qlxOption,qlxComment
syn region  qlxRecTable    matchgroup=qlxRecord start=/^\s*\$\%(TABLE\|TAB\)\>/
      \ end=/\ze\n\s*\$/ keepend contains=qlxOption,qlxTableItem,qlxDataItem,qlxComment

" --- colours: standard groups, so every colour scheme has them -------------------
hi def link qlxComment     Comment
hi def link qlxError       Error
hi def link qlxBadString   Error
hi def link qlxRecord      PreProc
hi def link qlxTitle       Title
hi def link qlxPath        String
hi def link qlxValue       String
hi def link qlxString      String
hi def link qlxNumber      Number
hi def link qlxOperator    Operator
hi def link qlxDelimiter   Delimiter
hi def link qlxKeyword     Keyword
hi def link qlxOption      Type
hi def link qlxCmtKey      qlxOption
hi def link qlxOptionValue Constant
hi def link qlxParameter   Identifier
hi def link qlxBranch      Identifier
hi def link qlxIndexed     Identifier
hi def link qlxCompartment Structure
hi def link qlxRole        Keyword
hi def link qlxDdt         Special
hi def link qlxFunction    Function
hi def link qlxRecordFunc  Function
hi def link qlxDist        Function
hi def link qlxCall        Function
hi def link qlxRecordWord  Constant
hi def link qlxDirective   Statement
hi def link qlxDataItem    Special
hi def link qlxTableItem   Special
hi def link qlxBuiltin     Special

let b:current_syntax = 'qlx'
let &cpo = s:cpo_save
unlet s:cpo_save
