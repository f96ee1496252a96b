;;; qlx-test.el --- probes of qlx-mode for tests/cli/editor_emacs.sh  -*- lexical-binding: t -*-

;; Each function prints what the mode did, one line per item; the shell
;; script holds the expectations and compares.  Loaded after qlx-mode.el:
;;   emacs --batch -Q -l editors/emacs/qlx-mode.el -l qlx-test.el --eval ...

;;; Code:

(require 'imenu)

(defun qlx-test--visit (file)
  "Visit FILE (its major mode from `auto-mode-alist') and fontify it."
  (find-file file)
  (font-lock-ensure)
  (current-buffer))

(defun qlx-test--face-name (face)
  "FACE as text: a symbol, faces joined by +, or nil."
  (cond ((null face) "nil")
        ((symbolp face) (symbol-name face))
        (t (mapconcat (lambda (f) (format "%s" f)) face "+"))))

(defun qlx-test-faces (file probes)
  "Print LABEL<TAB>FACE for each line LABEL<TAB>REGEXP of the file PROBES.
The face is the one at group 1 of the first match of REGEXP in FILE
\(case-sensitive), or at the match if REGEXP has no group; NOMATCH if
REGEXP is not found."
  (let ((lines (with-temp-buffer
                 (insert-file-contents probes)
                 (split-string (buffer-string) "\n" t))))
    (with-current-buffer (qlx-test--visit file)
      (dolist (line lines)
        (let* ((tab (string-match "\t" line))
               (label (substring line 0 tab))
               (re (substring line (1+ tab)))
               (case-fold-search nil))
          (goto-char (point-min))
          (princ (format "%s\t%s\n" label
                         (if (re-search-forward re nil t)
                             (qlx-test--face-name
                              (get-text-property (or (match-beginning 1)
                                                     (match-beginning 0))
                                                 'face))
                           "NOMATCH"))))))))

(defun qlx-test-imenu (file)
  "Print the names of FILE's imenu index, one a line, then where $PK is."
  (with-current-buffer (qlx-test--visit file)
    (let ((index (imenu--make-index-alist t)))
      (dolist (item index)
        (unless (equal (car item) imenu--rescan-item)
          (princ (format "%s\n" (car item)))))
      (goto-char (point-min))
      (imenu (assoc "$PK" index))
      (princ (format "jump: line %d: %s\n" (line-number-at-pos)
                     (buffer-substring-no-properties
                      (point) (line-end-position)))))))

(defun qlx-test-indent (pad &rest files)
  "Re-indent each of FILES from every line (not blank) indented by PAD.
Write FILE.ind: the model as `indent-region' lays it out."
  (dolist (file files)
    (with-temp-buffer
      (insert-file-contents file)
      (qlx-mode)
      (goto-char (point-min))
      (while (re-search-forward "^[ \t]*\\([^ \t\n]\\)" nil t)
        (replace-match (concat (make-string pad ?\s) "\\1")))
      (let ((inhibit-message t))
        (indent-region (point-min) (point-max)))
      (write-region nil nil (concat file ".ind") nil 'silent))))

(defun qlx-test-fontify-all (&rest files)
  "Fontify each of FILES: print `ok FILE', or `error FILE: why'.
A file whose first record does not get `qlx-record-face' was not
fontified at all, and is an error too."
  (dolist (file files)
    (let ((buf (find-file-noselect file)))
      (with-current-buffer buf
        (princ
         (condition-case err
             (progn
               (font-lock-ensure)
               (goto-char (point-min))
               (re-search-forward "^\\$")
               (if (eq (get-text-property (match-beginning 0) 'face)
                       'qlx-record-face)
                   (format "ok %s\n" file)
                 (format "error %s: the first record is not fontified\n"
                         file)))
           (error (format "error %s: %S\n" file err)))))
      (kill-buffer buf))))

(defun qlx-test-format (qlxc messy broken)
  "Run `qlx-format-buffer' with QLXC on the files MESSY and BROKEN.
Write MESSY.out, the formatted buffer, and BROKEN.out, the buffer after a
formatting that must fail; print the *qlx-fmt* errors and where the
first of them leads."
  (setq qlx-qlxc-program qlxc)
  (with-current-buffer (find-file-noselect messy)
    (princ (format "messy: %s\n" (qlx-format-buffer)))
    (write-region nil nil (concat messy ".out") nil 'silent))
  (with-current-buffer (find-file-noselect broken)
    (princ (format "broken: %s modified %s\n" (qlx-format-buffer)
                   (buffer-modified-p)))
    (write-region nil nil (concat broken ".out") nil 'silent))
  (with-current-buffer "*qlx-fmt*"
    (princ (buffer-string))
    (goto-char (point-min))
    (compile-goto-error)
    (princ (format "goto: %s:%d:%d\n" (file-name-nondirectory buffer-file-name)
                   (line-number-at-pos) (1+ (current-column))))))

(defun qlx-test-check (qlxc file)
  "Run `qlx-check' with QLXC on FILE; print where its first error leads."
  (setq qlx-qlxc-program qlxc)
  (find-file file)
  (qlx-check)
  (let ((proc (get-buffer-process "*qlx-check*")))
    (while (process-live-p proc)
      (accept-process-output proc 0.1)))
  (with-current-buffer "*qlx-check*"
    (goto-char (point-min))
    (compilation-next-error 1)
    (princ (format "type: %s\n" (compilation--message->type
                                 (get-text-property (point)
                                                    'compilation-message))))
    (compile-goto-error))
  (princ (format "goto: %s:%d:%d\n" (file-name-nondirectory buffer-file-name)
                 (line-number-at-pos) (1+ (current-column)))))

(defun qlx-test-misc (file)
  "Print the mode's settings on FILE: mode, keys, comments, words."
  (with-current-buffer (qlx-test--visit file)
    (princ (format "mode: %s\n" major-mode))
    (princ (format "C-c C-f: %s\n" (key-binding (kbd "C-c C-f"))))
    (princ (format "C-c C-c: %s\n" (key-binding (kbd "C-c C-c"))))
    (princ (format "comment-start: \"%s\"\n" comment-start))
    ;; comment a code line
    (goto-char (point-min))
    (re-search-forward "^  V1 = ")
    (comment-region (line-beginning-position) (line-end-position))
    (princ (format "commented: %s\n" (buffer-substring-no-properties
                                      (line-beginning-position)
                                      (line-end-position))))
    ;; `_' is part of a word; `;' starts a comment; braces pair
    (goto-char (point-min))
    (re-search-forward "^  \\(eta_ka\\)")
    (goto-char (match-beginning 1))
    (forward-word)
    (princ (format "word: %s\n" (buffer-substring-no-properties
                                 (match-beginning 1) (point))))
    (goto-char (point-min))
    (re-search-forward "; log")
    (princ (format "in comment: %s\n" (and (nth 4 (syntax-ppss)) t)))
    (re-search-forward "{")
    (backward-char)
    (forward-sexp)
    (princ (format "brace pairs with: %s\n"
                   (buffer-substring-no-properties (1- (point)) (point))))))

(defun qlx-test-aliases (&rest pairs)
  "Print ALIAS RECORD CANONICAL for each ALIAS:RECORD of PAIRS."
  (dolist (p pairs)
    (let ((ar (split-string p ":")))
      (princ (format "%s %s %s\n" (car ar) (cadr ar)
                     (qlx--record-canonical (car ar)))))))

;;; qlx-test.el ends here
