#!/usr/bin/env bash
# editors/vim/screenshot.sh -- docs/img/editor-vim.png: the real Vim, in
# an xterm of 100x45 characters and 256 colours on a virtual X display,
# showing examples/estimation/fit.qlx with editors/vim's highlighting.
#
#   editors/vim/screenshot.sh [OUT.png]       (from anywhere; run by hand)
#
# Needs vim, Xvfb, xterm, xwd (x11-apps), ImageMagick's convert and the
# DejaVu Sans Mono font:
#   apt-get install -y --no-install-recommends vim xvfb xterm x11-apps \
#       imagemagick fonts-dejavu-core
# QLX_VIM_COLORS picks another of the colour schemes shipped with Vim
# (default: slate, in which parameters, functions, compartments, records
# and options all get colours of their own; Vim's `default` gives
# parameters, functions and comments one cyan).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/docs/img/editor-vim.png}
colors=${QLX_VIM_COLORS:-slate}
for p in vim Xvfb xterm xwd convert; do
    command -v "$p" >/dev/null || { echo "screenshot.sh: $p is missing (see the header)" >&2; exit 1; }
done

# a free display number
d=90
while [ -e "/tmp/.X$d-lock" ] || [ -e "/tmp/.X11-unix/X$d" ]; do d=$((d + 1)); done
tmp=$(mktemp -d)
xvfb=
term=
cleanup() {
    [ -n "$term" ] && kill "$term" 2>/dev/null
    [ -n "$xvfb" ] && kill "$xvfb" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
# -br: a black root, which convert -trim takes away around the xterm
Xvfb ":$d" -screen 0 1600x1200x24 -br -nolisten tcp >"$tmp/xvfb.log" 2>&1 &
xvfb=$!
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X$d" ] && break; sleep 0.1; done

# Vim as a user gets it: editors/vim first on the runtimepath, no vimrc;
# the folds open, the cursor on the first record, scrolled so that the
# last line ($ESTIMATION METHOD=FOCEI) shows
cd "$root"
DISPLAY=":$d" xterm -geometry 100x45+0+0 -b 8 -fa 'DejaVu Sans Mono' -fs 11 \
    -bg '#1c1c1c' -fg '#dadada' -tn xterm-256color -e \
    vim -N -u NONE -i NONE --cmd "set rtp^=$root/editors/vim" \
    --cmd 'filetype plugin indent on' --cmd 'syntax on' \
    -c "set t_Co=256 background=dark number laststatus=2 ruler foldlevel=99 noshowmode" \
    -c "colorscheme $colors" -c "set background=dark" -c 'call winrestview({"topline": 5, "lnum": search("^\\$PROBLEM"), "col": 0})' \
    examples/estimation/fit.qlx &
term=$!
# wait for the xterm to be drawn (its first start builds a font cache),
# then give Vim a moment to paint
mkdir -p "$(dirname "$out")"
for _ in $(seq 60); do
    sleep 0.5
    DISPLAY=":$d" xwd -root -silent >"$tmp/screen.xwd"
    w=$(convert "xwd:$tmp/screen.xwd" -trim -format '%w' info: 2>/dev/null || echo 0)
    [ "$w" -gt 400 ] && break
done
sleep 2
DISPLAY=":$d" xwd -root -silent >"$tmp/screen.xwd"
convert "xwd:$tmp/screen.xwd" -trim +repage "$out"
echo "wrote $out ($(convert "$out" -format '%wx%h' info:))"
