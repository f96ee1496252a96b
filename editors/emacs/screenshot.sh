#!/bin/sh
# screenshot.sh -- make docs/img/editor-emacs.png: the real Emacs, under
# Xvfb, showing examples/estimation/fit.qlx in qlx-mode (100x49
# characters, Emacs's own light theme, DejaVu Sans Mono).
#
# Needs a graphical Emacs, Xvfb with xvfb-run, ImageMagick's import and
# the DejaVu fonts; on Debian:
#   apt-get install --no-install-recommends emacs-lucid xvfb imagemagick fonts-dejavu-core
# (emacs-gtk does as well; emacs-nox, which the tests use, cannot draw a
# window).  Run by hand from anywhere, not by the tests:
#   editors/emacs/screenshot.sh [OUT.png]
set -eu
cd "$(dirname "$0")/../.."
out=${1:-docs/img/editor-emacs.png}
for tool in emacs xvfb-run import; do
    command -v $tool >/dev/null || { echo "screenshot.sh: $tool is not installed" >&2; exit 1; }
done
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Emacs writes its frame's size in pixels to $tmp/ready once it has drawn
# the file; the shell under Xvfb then takes that part of the screen.
cat >"$tmp/shot.el" <<EOF
(setq inhibit-startup-screen t)
(tool-bar-mode -1)
(menu-bar-mode -1)
(scroll-bar-mode -1)
(blink-cursor-mode -1)
(set-face-attribute 'default nil :family "DejaVu Sans Mono" :height 110)
(setq vc-handled-backends nil)
(load (expand-file-name "editors/emacs/qlx-mode.el"))
(find-file "examples/estimation/fit.qlx")
(set-frame-size nil 100 49)
(search-forward "METHOD=FOCEI")
(run-with-timer 2 nil
  (lambda ()
    (message "")
    (redisplay t)
    (with-temp-file "$tmp/ready"
      (insert (format "%dx%d" (frame-outer-width) (frame-outer-height))))))
EOF

cat >"$tmp/run.sh" <<EOF
emacs -Q --geometry 100x49+0+0 -l "$tmp/shot.el" &
pid=\$!
i=0
while [ ! -s "$tmp/ready" ] && [ \$i -lt 300 ]; do sleep 0.1; i=\$((i + 1)); done
sleep 0.5
[ -s "$tmp/ready" ] && import -window root -crop "\$(cat "$tmp/ready")+0+0" +repage "$out"
rc=\$?
kill \$pid
exit \$rc
EOF
xvfb-run -a -s "-screen 0 1600x1200x24" sh "$tmp/run.sh"
echo "wrote $out"
