;;; qlx-mode.el --- Major mode for Qlynix .qlx models  -*- lexical-binding: t -*-

;; qlx-mode.el is generated from qlx-mode.el.in by lang/gen_editors
;; (`make editors'): edit the template, not the .el.  Every word list
;; below comes from lang/keywords.def, the table the lexer is built from,
;; so the highlighting cannot drift from the language.

;; Version: 0.1
;; Package-Requires: ((emacs "26.1"))
;; Keywords: languages

;;; Commentary:

;; A major mode for .qlx models (docs/language.md): highlighting,
;; indentation as `qlxc fmt' lays a model out, an imenu of the records,
;; formatting with `qlxc fmt' and checking with `qlxc check'.
;;
;; Faces, by category:
;;
;;   $RECORD names (aliases, any case)     qlx-record-face (keyword, bold)
;;   an unknown $RECORD                    font-lock-warning-face
;;   the $PROBLEM title                    font-lock-doc-face
;;   if then else endif FIX BLOCK ... d/dt font-lock-keyword-face
;;   names declared in $THETA (before =),
;;     $OMEGA/$SIGMA (before ~), and the
;;     name of a $QUANTUM or $NETWORK      font-lock-variable-name-face
;;   compartments in $COMPARTMENTS and
;;     as the target of d/dt(...)          font-lock-type-face
;;   record options (METHOD=, FILE=...),
;;     directives (QUBITS, REGIMEN...),
;;     THETA(n) ETA(n)..., TIME and T      font-lock-builtin-face
;;   option values (FOCEI, YES...),
;;     compartment roles (dose, observe),
;;     data items (ID DV AMT...), $TABLE
;;     items (PRED CWRES...), transforms   font-lock-constant-face
;;   functions (exp, log...), record
;;     functions (ry, euler, linear),
;;     activations, priors, lua.name(      font-lock-function-name-face
;;   numbers                               qlx-number-face
;;   strings, and the paths of $DATA,
;;     $LUA, $INCLUDE and FILE=            font-lock-string-face
;;   comments                              font-lock-comment-face
;;
;; Commands: C-c C-f `qlx-format-buffer' (qlxc fmt -), C-c C-c
;; `qlx-check' (qlxc check, errors in a compilation buffer).  The program
;; is `qlx-qlxc-program'.

;;; Code:

(require 'compile)

(defgroup qlx nil
  "Qlynix .qlx models."
  :group 'languages
  :prefix "qlx-")

(defcustom qlx-qlxc-program "qlxc"
  "The qlxc program that formats and checks models."
  :type 'string)

(defcustom qlx-indent-offset 2
  "Indentation of a record's body, and of each level of braces.
`qlxc fmt' uses 2."
  :type 'integer
  :safe #'integerp)

(defcustom qlx-format-on-save nil
  "Non-nil: format the buffer with `qlxc fmt' before saving it.
A model with syntax errors is saved as it is."
  :type 'boolean)

(defface qlx-record-face
  '((t :inherit font-lock-keyword-face :weight bold))
  "Face of record names such as $THETA.")

(defface qlx-number-face
  (if (facep 'font-lock-number-face)
      '((t :inherit (font-lock-number-face font-lock-constant-face)))
    '((t :inherit font-lock-constant-face)))
  "Face of numbers.")

;;;; The words of the language, from lang/keywords.def

(defconst qlx-records '("PROBLEM" "DATA" "INPUT" "COMPARTMENTS" "THETA" "OMEGA" "SIGMA" "PRIOR" "PK" "DES" "ERROR" "QUANTUM" "NETWORK" "HYBRID" "LOSS" "ESTIMATION" "COVARIANCE" "SOLVER" "SIMULATION" "TABLE" "LUA" "INCLUDE" "PROB" "PROBL" "INP" "COMP" "MODEL" "THE" "OME" "SIG" "ERR" "PRED" "EST" "ESTM" "COV" "SUBROUTINES" "SIM" "TAB")
  "Record names and their aliases, without the $.")
(defconst qlx-options '("IGNORE" "ACCEPT" "FORMAT" "RECORDS" "METHOD" "INTERACTION" "MAXEVAL" "PRINT" "SIGDIG" "SEED" "NBURN" "NITER" "ISAMPLE" "LR" "EPOCHS" "SOLVER" "INTEGRATOR" "RTOL" "ATOL" "POSTHOC" "NOABORT" "MAXSTEPS" "MATRIX" "UNCONDITIONAL" "FILE" "NOPRINT" "ONEHEADER" "ESAMPLE" "N" "RESIDUAL" "UNCERTAINTY" "NORMALIZE" "SUBJECT" "DERIVED")
  "Option names of record headers.")
(defconst qlx-option-values '("AUTO" "CSV" "SPACE" "FO" "FOCE" "FOCEI" "LAPLACE" "SAEM" "IMP" "ADAM" "LBFGS" "ODE" "CLOSED" "BDF" "ADAMS" "R" "S" "SANDWICH" "YES" "NO")
  "The words enum options take.")
(defconst qlx-directives '("QUBITS" "ENCODE" "ANSATZ" "MEASURE" "SHOTS" "INPUTS" "DENSE" "OUTPUTS" "SEED" "DATA" "PHYSICS" "INITIAL" "PRIOR" "SCENARIO" "POPULATION" "REGIMEN" "ENDPOINT" "TARGET" "FIND" "TIMES" "VPC")
  "Directive names of $QUANTUM, $NETWORK, $LOSS and $SIMULATION.")
(defconst qlx-funcs '("exp" "log" "log10" "sqrt" "abs" "pow" "min" "max" "sin" "cos" "tanh" "logit" "expit" "softplus" "phi")
  "Math functions.")
(defconst qlx-record-funcs '("rx" "ry" "rz" "amplitude" "euler" "strongly_entangling" "basic_entangler" "x" "y" "z" "linear")
  "Functions that mean something only inside one record.")
(defconst qlx-record-words '("tanh" "relu" "sigmoid" "softplus" "identity")
  "Bare words that mean something only inside one record.")
(defconst qlx-indexed '("THETA" "ETA" "EPS" "ERR" "A" "DADT")
  "NONMEM's indexed aliases, used as THETA(1).")
(defconst qlx-keywords '("if" "then" "else" "endif" "FIX" "FIXED" "BLOCK" "SD" "CORRELATION" "TRANSFORM" "DROP")
  "Reserved words.")
(defconst qlx-builtins '("TIME" "T")
  "Predefined variables (case-sensitive).")
(defconst qlx-data-items '("ID" "TIME" "DV" "AMT" "EVID" "MDV" "CMT" "RATE" "II" "ADDL" "SS" "DVID")
  "Data items with a NONMEM meaning.")
(defconst qlx-cmt-roles '("dose" "observe" "DEFDOSE" "DEFOBSERVATION" "DEFOBS")
  "Compartment roles.")
(defconst qlx-table-items '("ID" "TIME" "DV" "PRED" "IPRED" "RES" "WRES" "CWRES" "IWRES" "NPDE" "ETAS" "EPRED")
  "Standard $TABLE items.")
(defconst qlx-prior-dists '("normal" "lognormal" "iwishart")
  "Distributions of $PRIOR.")
(defconst qlx-transforms '("none" "softplus" "log")
  "Values of a THETA's TRANSFORM=.")

;;;; Records

;; Each record and each alias with the record it names, from keywords.def.
(defconst qlx-record-names '("PROBLEM" "DATA" "INPUT" "COMPARTMENTS" "THETA" "OMEGA" "SIGMA" "PRIOR" "PK" "DES" "ERROR" "QUANTUM" "NETWORK" "HYBRID" "LOSS" "ESTIMATION" "COVARIANCE" "SOLVER" "SIMULATION" "TABLE" "LUA" "INCLUDE")
  "The records of .qlx, without their aliases.")

(defconst qlx--record-aliases '(("PROB" . "PROBLEM") ("PROBL" . "PROBLEM") ("INP" . "INPUT") ("COMP" . "COMPARTMENTS") ("MODEL" . "COMPARTMENTS") ("THE" . "THETA") ("OME" . "OMEGA") ("SIG" . "SIGMA") ("ERR" . "ERROR") ("PRED" . "ERROR") ("EST" . "ESTIMATION") ("ESTM" . "ESTIMATION") ("COV" . "COVARIANCE") ("SUBROUTINES" . "SOLVER") ("SIM" . "SIMULATION") ("TAB" . "TABLE"))
  "Each alias in `qlx-records' with the record it names.")

(defun qlx--record-canonical (name)
  "The record that NAME (without $, any case) names, or nil if none."
  (let ((up (upcase name)))
    (or (cdr (assoc up qlx--record-aliases))
        (car (member up qlx-record-names)))))

(defconst qlx--record-table
  (let ((table (make-hash-table :test #'equal)))
    (dolist (r qlx-records table)
      (puthash r (qlx--record-canonical r) table)))
  "Each name of `qlx-records' (upper case) and the record it names.")

(defconst qlx--header-re "^[ \t]*\\$\\([A-Za-z_][A-Za-z0-9_]*\\)"
  "A record's header line; group 1 is its name.")

(defun qlx--header-line-p (&optional pos)
  "Non-nil if the line at POS (or point) starts a record."
  (save-excursion
    (save-match-data
      (when pos (goto-char pos))
      (beginning-of-line)
      (looking-at "[ \t]*\\$[A-Za-z_]"))))

(defun qlx--record-at (&optional pos)
  "The record (canonical name) that POS (or point) lies in, or nil."
  (save-excursion
    (save-match-data
      (when pos (goto-char pos))
      (end-of-line)
      (let ((case-fold-search t))
        (when (re-search-backward qlx--header-re nil t)
          (gethash (upcase (match-string-no-properties 1))
                   qlx--record-table))))))

(defun qlx--names-of (record)
  "The names in `qlx-records' that mean RECORD."
  (let (names)
    (dolist (r qlx-records (nreverse names))
      (when (equal (qlx--record-canonical r) record)
        (push r names)))))

;;;; Syntax

(defvar qlx-mode-syntax-table
  (let ((st (make-syntax-table)))
    (modify-syntax-entry ?\; "<" st)
    (modify-syntax-entry ?\n ">" st)
    (modify-syntax-entry ?\" "\"" st)
    (modify-syntax-entry ?\\ "." st)     ; strings have no escapes
    (modify-syntax-entry ?_ "w" st)
    (modify-syntax-entry ?\( "()" st)
    (modify-syntax-entry ?\) ")(" st)
    (modify-syntax-entry ?\{ "(}" st)
    (modify-syntax-entry ?\} "){" st)
    (dolist (c (string-to-list "$+-*/^<>=~!&|,.@#'"))
      (modify-syntax-entry c "." st))
    st)
  "Syntax table of `qlx-mode'.")

(defconst qlx--title-re
  (concat "^[ \t]*\\$" (regexp-opt (qlx--names-of "PROBLEM") t)
          "\\_>[ \t]*\\(.*\\)$")
  "A $PROBLEM line; group 2 is the title.")

(defun qlx--syntax-propertize (start end)
  "Make `;' and `\"' ordinary in the $PROBLEM titles between START and END.
A title runs to the end of its line, comment included."
  (save-excursion
    (goto-char start)
    (beginning-of-line)
    (let ((case-fold-search t))
      (while (re-search-forward qlx--title-re end t)
        (let ((tend (match-end 2)))
          (goto-char (match-beginning 2))
          (while (re-search-forward "[;\"]" tend t)
            (put-text-property (1- (point)) (point) 'syntax-table
                               (string-to-syntax ".")))
          (goto-char tend))))))

(defun qlx--in-string-or-comment-p (pos)
  "Non-nil if POS is inside a string or a comment."
  (save-excursion (save-match-data (nth 8 (syntax-ppss pos)))))

;;;; Highlighting

(defun qlx--words-re (words)
  "A regexp matching one of WORDS as a whole symbol, in group 1."
  (concat "\\_<" (regexp-opt words t) "\\_>"))

(defun qlx--in (&rest records)
  "A predicate for `qlx--matcher': inside one of RECORDS."
  (lambda (rec _header) (member rec records)))

(defun qlx--fontified-as-text-p (pos)
  "Non-nil if POS is in a comment or a string, as fontified already.
Font-lock does syntactic fontification first; asking the faces is much
cheaper than `syntax-ppss' at each match."
  (memq (get-text-property pos 'face)
        '(font-lock-comment-face font-lock-comment-delimiter-face
          font-lock-string-face font-lock-doc-face)))

(defun qlx--matcher (regexp pred &optional case-sensitive)
  "A font-lock matcher of REGEXP where (PRED RECORD HEADER-P) holds.
RECORD is the record the match lies in, HEADER-P says whether it is on
the record's header line.  Matches in comments and strings are
skipped.  Case is ignored unless CASE-SENSITIVE."
  (lambda (limit)
    (let ((case-fold-search (not case-sensitive))
          found)
      ;; one record at a time, skipping those PRED never holds in
      (while (and (not found) (< (point) limit))
        (let ((rec (qlx--record-at))
              (next (save-excursion
                      (end-of-line)
                      (if (re-search-forward qlx--header-re limit t)
                          (line-beginning-position)
                        limit))))
          (if (not (or (funcall pred rec t) (funcall pred rec nil)))
              (goto-char next)
            (while (and (not found) (re-search-forward regexp next t))
              (let ((beg (match-beginning 0)))
                (when (and (not (qlx--fontified-as-text-p beg))
                           (funcall pred rec (qlx--header-line-p beg)))
                  (setq found t))))
            (unless found
              (goto-char next)))))
      found)))

(defconst qlx--option-records
  '("DATA" "LUA" "ESTIMATION" "COVARIANCE" "SOLVER" "TABLE")
  "Records whose whole body is options.")

(defconst qlx--directive-records '("QUANTUM" "NETWORK" "LOSS" "SIMULATION")
  "Records of directive lines; their options are on the header line.")

(defun qlx--option-place-p (rec header)
  "Non-nil where record options are written: REC, HEADER as in `qlx--matcher'."
  (or (member rec qlx--option-records)
      (and header (member rec qlx--directive-records))))

(defconst qlx--code-records '("PK" "DES" "ERROR" "HYBRID")
  "Records of statements.")

(defconst qlx--name-re "[A-Za-z_][A-Za-z0-9_]*")

(defconst qlx--number-re
  (concat "\\(?:^\\|[^[:alnum:]_]\\)"
          "\\(\\(?:[0-9]+\\.?[0-9]*\\|\\.[0-9]+\\)\\(?:[eEdD][-+]?[0-9]+\\)?\\)")
  "A number; group 1.  Not the digits of a name such as tv1.")

(defconst qlx-font-lock-keywords
  `(;; $PROBLEM's title, before anything else can claim its words
    (,qlx--title-re 2 'font-lock-doc-face)
    ;; records
    (,(concat "\\$" (qlx--words-re qlx-records)) . 'qlx-record-face)
    ("^[ \t]*\\(\\$[A-Za-z_][A-Za-z0-9_]*\\)" 1 'font-lock-warning-face)
    ;; paths
    (,(qlx--matcher (concat "^[ \t]*\\$" qlx--name-re
                            "[ \t]+\\([^ \t\n;=()\"]+\\)")
                    (qlx--in "DATA" "LUA" "INCLUDE"))
     1 'font-lock-string-face)
    (,(qlx--matcher "\\_<FILE[ \t]*=[ \t]*\\([^ \t\n;=()\"]+\\)"
                    #'qlx--option-place-p)
     1 'font-lock-string-face)
    ;; a THETA's transform, before the function of the same name
    (,(qlx--matcher (concat "\\_<TRANSFORM[ \t]*=[ \t]*"
                            (qlx--words-re qlx-transforms))
                    (qlx--in "THETA"))
     1 'font-lock-constant-face)
    (,(qlx--words-re qlx-keywords) 1 'font-lock-keyword-face)
    ;; d/dt(compartment)
    (,(concat "\\_<\\(d/dt\\)[ \t]*([ \t]*\\(" qlx--name-re "\\)")
     (1 'font-lock-keyword-face) (2 'font-lock-type-face))
    ;; declarations: tka = ..., eta_cl eta_v ~ ..., $QUANTUM q
    (,(qlx--matcher (concat "^[ \t]*\\(?:\\$" qlx--name-re "[ \t]+\\)?\\("
                            qlx--name-re "\\)[ \t]*=")
                    (qlx--in "THETA"))
     1 'font-lock-variable-name-face)
    (,(qlx--matcher (concat "^[ \t]*\\(?:\\$" qlx--name-re "[ \t]+\\)?"
                            "\\(?:BLOCK[ \t]*([ \t]*[0-9]+[ \t]*)[ \t]*\\)?"
                            "\\(" qlx--name-re "\\(?:[ \t]+" qlx--name-re
                            "\\)*\\)[ \t]*~")
                    (qlx--in "OMEGA" "SIGMA"))
     (,(concat "\\_<" qlx--name-re "\\_>")
      (progn (goto-char (match-beginning 1)) (match-end 1))
      nil
      (0 'font-lock-variable-name-face)))
    (,(qlx--matcher (concat "^[ \t]*\\$" qlx--name-re "[ \t]+\\("
                            qlx--name-re "\\)")
                    (qlx--in "QUANTUM" "NETWORK"))
     1 'font-lock-variable-name-face)
    ;; $COMPARTMENTS: NONMEM's COMP=, roles, compartments
    (,(qlx--matcher (concat "\\(" qlx--name-re "\\)[ \t]*=")
                    (qlx--in "COMPARTMENTS"))
     1 'font-lock-builtin-face)
    (,(qlx--matcher (qlx--words-re qlx-cmt-roles) (qlx--in "COMPARTMENTS"))
     1 'font-lock-constant-face)
    (,(qlx--matcher (concat "\\_<" qlx--name-re "\\_>")
                    (qlx--in "COMPARTMENTS"))
     0 'font-lock-type-face)
    ;; options and their values
    (,(qlx--matcher (qlx--words-re qlx-options) #'qlx--option-place-p)
     1 'font-lock-builtin-face)
    (,(qlx--matcher (concat "=[ \t]*" (qlx--words-re qlx-option-values))
                    #'qlx--option-place-p)
     1 'font-lock-constant-face)
    ;; directive lines
    (,(qlx--matcher (concat "^[ \t]*" (qlx--words-re qlx-directives))
                    (lambda (rec header)
                      (and (not header) (member rec qlx--directive-records))))
     1 'font-lock-builtin-face)
    ;; data and table items
    (,(qlx--matcher (qlx--words-re qlx-data-items) (qlx--in "INPUT"))
     1 'font-lock-constant-face)
    (,(qlx--matcher (qlx--words-re (append qlx-table-items qlx-data-items))
                    (qlx--in "TABLE"))
     1 'font-lock-constant-face)
    ;; functions
    (,(qlx--matcher (qlx--words-re qlx-record-funcs) (qlx--in "QUANTUM"))
     1 'font-lock-function-name-face)
    (,(qlx--matcher (concat (qlx--words-re qlx-record-funcs) "[ \t]*(")
                    (qlx--in "HYBRID"))
     1 'font-lock-function-name-face)
    (,(qlx--matcher (qlx--words-re qlx-record-words) (qlx--in "NETWORK"))
     1 'font-lock-function-name-face)
    (,(qlx--matcher (concat (qlx--words-re qlx-prior-dists) "[ \t]*(")
                    (qlx--in "PRIOR"))
     1 'font-lock-function-name-face)
    (,(concat "\\_<\\(lua\\.[A-Za-z_][A-Za-z0-9_]*\\)[ \t]*(")
     1 'font-lock-function-name-face)
    (,(concat (qlx--words-re qlx-funcs) "[ \t]*(")
     1 'font-lock-function-name-face)
    ;; THETA(n)..., TIME and T, data items in code
    (,(concat (qlx--words-re qlx-indexed) "[ \t]*(") 1 'font-lock-builtin-face)
    (,(qlx--matcher (qlx--words-re qlx-builtins) (lambda (rec _h) rec) t)
     1 'font-lock-builtin-face)
    (,(qlx--matcher (qlx--words-re qlx-data-items) (lambda (rec _h) rec) t)
     1 'font-lock-constant-face)
    (,qlx--number-re 1 'qlx-number-face))
  "Highlighting of `qlx-mode'; the faces are listed in the Commentary.")

;;;; Indentation: the layout of `qlxc fmt'

;; A record's header is in column 0 and its body is indented by
;; `qlx-indent-offset', plus one offset for each open { or IF ... THEN.
;; A line inside an open ( lines up after it; a line after one that ends
;; with an operator is a continuation, and lines up after the `=' of its
;; statement (or goes one offset further in when there is none).  The
;; items of $INPUT, $TABLE and the options of a record line up with the
;; first on the header, when they wrap.  Comments
;; between two records follow fmt's rule: those directly below the body
;; belong to it; from the first one in column 0 or after a blank line
;; on, they are notes above the next header, in column 0.

(defun qlx--code-end ()
  "The end of the code on the line at point, before a comment and blanks."
  (save-excursion
    (end-of-line)
    (let ((ppss (syntax-ppss)))
      (when (nth 4 ppss)
        (goto-char (nth 8 ppss))))
    (skip-chars-backward " \t")
    (point)))

(defun qlx--blocks (from to)
  "The blocks open at TO, scanning the lines from FROM: innermost first.
Each is `brace' or `then'."
  (let ((case-fold-search t) stack)
    (save-excursion
      (goto-char from)
      (forward-line 1)                  ; past the header
      (while (< (point) to)
        (let ((end (qlx--code-end)) else-p)
          (back-to-indentation)
          (let ((first (point)))
            (setq end (max end first))  ; a line of only a comment
            (cond ((looking-at "endif\\_>")
                   (when (eq (car stack) 'then) (pop stack)))
                  ((looking-at "else\\_>") (setq else-p t)))
            (while (re-search-forward "[{}]" end t)
              (unless (qlx--in-string-or-comment-p (1- (point)))
                (if (eq (char-before) ?\{) (push 'brace stack) (pop stack))))
            (goto-char end)
            ;; ELSE IF (c) THEN goes on with the block its ELSE is in
            (when (and (not else-p) (looking-back "\\_<then" first))
              (push 'then stack))))
        (forward-line 1)))
    stack))

(defun qlx--note-above-header-p ()
  "Non-nil if the comment line at point is a note above the next record."
  (save-excursion
    (beginning-of-line)
    (and
     ;; below it: only comments and blank lines, then a header or the end
     (save-excursion
       (while (and (zerop (forward-line 1)) (not (eobp))
                   (looking-at "[ \t]*\\(?:;.*\\)?$")))
       (or (eobp) (looking-at "[ \t]*\\$")))
     ;; above it, up to the body: a blank line, or a comment in column 0
     (let (note done)
       (while (not (or note done))
         (cond ((looking-at ";") (setq note t))
               ((looking-at "[ \t]*$") (setq note t))
               ((not (looking-at "[ \t]*;")) (setq done t))
               ((not (zerop (forward-line -1))) (setq done t))))
       note))))

(defun qlx--paren-indentation (head)
  "The indentation of a line inside a ( opened after HEAD, or nil."
  (let* ((ppss (syntax-ppss (line-beginning-position)))
         (open (nth 1 ppss)))
    (when (and open (> open head) (eq (char-after open) ?\())
      (if (save-excursion (back-to-indentation) (looking-at ")"))
          (save-excursion (goto-char open) (current-column))
        (save-excursion
          (goto-char open)
          (forward-char 1)
          (skip-chars-forward " \t")
          (if (or (eolp) (looking-at ";"))
              (+ (current-indentation) qlx-indent-offset)
            (current-column)))))))

(defconst qlx--header-records (cons "INPUT" qlx--option-records)
  "Records whose items `qlxc fmt' writes on the header line.")

(defun qlx--header-items-indentation (head)
  "The column of the first item on HEAD's line, for a record of
`qlx--header-records' that has one; nil for other records."
  (save-excursion
    (goto-char head)
    (when (and (member (qlx--record-at) qlx--header-records)
               (looking-at (concat "[ \t]*\\$" qlx--name-re "[ \t]+[^ \t\n;]")))
      (goto-char (1- (match-end 0)))
      (current-column))))

(defun qlx--continues-p ()
  "Non-nil if the code of the line at point ends with an operator."
  (save-excursion
    (goto-char (qlx--code-end))
    (let ((case-fold-search t)
          (bol (line-beginning-position)))
      (and (not (looking-back "->" bol))
           (looking-back
            "\\(?:[-+*/^=~,<>&|!]\\|\\.\\(?:and\\|or\\|eq\\|ne\\|[lg][te]\\)\\.\\)"
            bol)))))

(defun qlx--continuation-indentation (head)
  "The column of a continuation line, t for one offset in, or nil.
A line continues the previous code line (after HEAD) when that ends with
an operator; it lines up after the `=' or `~' of the statement it
continues, or else (t) goes one offset in from the body's indentation."
  (save-excursion
    (let (prev)
      (while (and (not prev) (zerop (forward-line -1)) (>= (point) head))
        (unless (looking-at "[ \t]*\\(?:;.*\\)?$")
          (setq prev (point))))
      (when (and prev (qlx--continues-p))
        ;; back to the first line of the statement
        (while (and (> (point) head)
                    (save-excursion
                      (and (zerop (forward-line -1))
                           (not (looking-at "[ \t]*\\(?:;.*\\)?$"))
                           (qlx--continues-p))))
          (forward-line -1))
        (let ((eol (qlx--code-end)) col)
          (while (and (not col)
                      (re-search-forward "[^=!<>]\\([=~]\\)[^=]" eol t))
            (goto-char (match-end 1))
            (unless (nth 8 (syntax-ppss))
              (skip-chars-forward " \t")
              (when (< (point) eol)
                (setq col (current-column)))))
          (or col t))))))

(defun qlx--indentation ()
  "The column the line at point belongs in."
  (save-excursion
    (beginning-of-line)
    (let ((case-fold-search t)
          (bol (point))
          head)
      (cond
       ((looking-at "[ \t]*\\$") 0)
       ((not (setq head (save-excursion
                          (and (re-search-backward qlx--header-re nil t)
                               (point)))))
        0)                              ; notes above the first record
       ((and (looking-at "[ \t]*;") (qlx--note-above-header-p)) 0)
       ((qlx--paren-indentation head))
       ((qlx--header-items-indentation head))
       (t
        (let* ((stack (qlx--blocks head bol))
               (depth (length stack)))
          (back-to-indentation)
          (when (or (looking-at "}")
                    (and (eq (car stack) 'then)
                         (looking-at "\\(?:endif\\|else\\)\\_>")))
            (setq depth (1- depth)))
          (let ((base (* qlx-indent-offset (1+ (max depth 0))))
                (cont (qlx--continuation-indentation head)))
            (cond ((integerp cont) cont)
                  (cont (+ base qlx-indent-offset))
                  (t base)))))))))

(defun qlx-indent-line ()
  "Indent the current line as `qlxc fmt' lays a model out."
  (interactive)
  (let ((indent (qlx--indentation))
        (offset (- (current-column) (current-indentation))))
    (indent-line-to indent)
    (when (> offset 0)
      (move-to-column (+ indent offset)))))

;;;; qlxc: format and check

(defconst qlx-compilation-regexp
  '("^\\([^ \t\n:][^\n:]*\\):\\([0-9]+\\):\\([0-9]+\\): \\(?:\\(error\\)\\|\\(warning\\)\\|\\(note\\)\\):"
    1 2 3 (5 . 6))
  "How `compilation-mode' reads qlxc's `file:line:col: error: message'.")

(define-derived-mode qlx-compilation-mode compilation-mode "qlx-check"
  "Compilation mode for the diagnostics of qlxc."
  (setq-local compilation-error-regexp-alist (list qlx-compilation-regexp))
  ;; qlxc counts columns from 1
  (setq-local compilation-first-column 1))

(defun qlx--show-errors (text file)
  "Show qlxc's diagnostics TEXT, about FILE, in *qlx-fmt*."
  (let ((buf (get-buffer-create "*qlx-fmt*"))
        (dir default-directory))
    (with-current-buffer buf
      (let ((inhibit-read-only t))
        (erase-buffer)
        (insert (replace-regexp-in-string "^<stdin>:" (concat file ":")
                                          text t t)))
      (setq default-directory dir)
      (qlx-compilation-mode)
      (goto-char (point-min)))
    (setq next-error-last-buffer buf)
    (display-buffer buf)))

(defun qlx-format-buffer ()
  "Format the buffer with `qlxc fmt -' (program `qlx-qlxc-program').
On a syntax error the buffer stays as it is and the errors are shown in
*qlx-fmt*, where \\[next-error] visits them.  Return non-nil if the
buffer was formatted."
  (interactive)
  (let ((out (generate-new-buffer " *qlx-fmt-out*"))
        (err (make-temp-file "qlx-fmt"))
        (file (or buffer-file-name (buffer-name)))
        status)
    (unwind-protect
        (progn
          (let ((coding-system-for-read 'utf-8)
                (coding-system-for-write 'utf-8))
            (setq status (call-process-region (point-min) (point-max)
                                              qlx-qlxc-program nil
                                              (list out err) nil "fmt" "-")))
          (cond
           ((eql status 0)
            (unless (zerop (compare-buffer-substrings nil nil nil out nil nil))
              (replace-buffer-contents out))
            (let ((win (get-buffer-window "*qlx-fmt*")))
              (when win (quit-window nil win)))
            t)
           ((eql status 1)
            (qlx--show-errors (with-temp-buffer
                                (insert-file-contents err)
                                (buffer-string))
                              file)
            (message "qlxc fmt: the model has errors; the buffer is unchanged")
            nil)
           (t
            (error "%s fmt failed (%s): %s" qlx-qlxc-program status
                   (with-temp-buffer (insert-file-contents err)
                                     (buffer-string))))))
      (kill-buffer out)
      (delete-file err))))

(defun qlx--format-before-save ()
  "Format the buffer before saving it, when `qlx-format-on-save' says so."
  (when qlx-format-on-save
    ;; a failure to format must not stop the save
    (condition-case err
        (qlx-format-buffer)
      (error (message "qlx-format-on-save: %s" (error-message-string err))))))

(defun qlx-check ()
  "Check the model of this buffer with `qlxc check', in a compilation buffer."
  (interactive)
  (unless buffer-file-name
    (user-error "The buffer has no file: save it first"))
  (when (buffer-modified-p)
    (save-buffer))
  (compilation-start (concat (shell-quote-argument qlx-qlxc-program) " check "
                             (shell-quote-argument
                              (file-local-name buffer-file-name)))
                     #'qlx-compilation-mode
                     (lambda (_mode) "*qlx-check*")))

;;;; The mode

(defvar qlx-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "C-c C-f") #'qlx-format-buffer)
    (define-key map (kbd "C-c C-c") #'qlx-check)
    map)
  "Keymap of `qlx-mode'.")

;;;###autoload
(define-derived-mode qlx-mode prog-mode "Qlx"
  "Major mode for Qlynix .qlx models.

\\{qlx-mode-map}"
  :syntax-table qlx-mode-syntax-table
  (setq-local font-lock-defaults '(qlx-font-lock-keywords nil t))
  (setq-local syntax-propertize-function #'qlx--syntax-propertize)
  (setq-local comment-start "; ")
  (setq-local comment-end "")
  (setq-local comment-start-skip ";+[ \t]*")
  (setq-local indent-line-function #'qlx-indent-line)
  (setq-local indent-tabs-mode nil)
  (setq-local electric-indent-chars
              (append '(?\} ?$) electric-indent-chars))
  (setq-local imenu-generic-expression
              '((nil "^[ \t]*\\(\\$[A-Za-z_][A-Za-z0-9_]*\\)" 1)))
  (setq-local imenu-case-fold-search t)
  (setq-local outline-regexp "[ \t]*\\$[A-Za-z_]")
  (add-hook 'before-save-hook #'qlx--format-before-save nil t))

;;;###autoload
(add-to-list 'auto-mode-alist '("\\.qlx\\'" . qlx-mode))

(provide 'qlx-mode)

;;; qlx-mode.el ends here
