# Qlynix -- the one top-level Makefile.
#
#   make deps      install the Debian packages Qlynix needs (as root, idempotent)
#   make           build build/qlxc
#   make run       build, then run the main job on the bundled example
#   make test      build and run every test; ends with "N passed, N failed"
#   make test-san  the same under AddressSanitizer + UBSan (build-san/)
#   make fuzz      libFuzzer over lexer + parser + checker (FUZZ_SECONDS=60)
#   make bench     benchmarks, side by side with their peers
#   make install   PREFIX=/usr/local
#   make clean

PREFIX  ?= /usr/local
CC      ?= cc
RE2C    ?= re2c
SAN     ?=
FUZZ_SECONDS ?= 60

ifeq ($(SAN),1)
BUILD   ?= build-san
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT      = -O1 -g -DQLX_FAULTS
else
BUILD   ?= build
SANFLAGS =
OPT      = -O2 -g
endif

PKGS     = lua5.4 openblas ompi-c
WARN     = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
CPPFLAGS = -D_POSIX_C_SOURCE=200809L -Isrc $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CFLAGS   = -std=c11 $(OPT) $(WARN) $(SANFLAGS) -MMD -MP
LDFLAGS  = $(SANFLAGS)
LDLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) \
           -lsundials_cvodes -lsundials_nvecserial -lm -lpthread

LIB_SRC  = $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  = $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/lex.o
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_SRC = $(wildcard bench/bench_*.c)
BENCH_BIN = $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps run test test-san fuzz bench bench-deps install clean editors
.SUFFIXES:

all: $(BUILD)/qlxc

# --- generated lexer: re2c at build time, never committed -----------------
$(BUILD)/gen/lex.c: lang/lex.re
	@mkdir -p $(dir $@)
	$(RE2C) -W --no-generation-date -o $@ $<

$(BUILD)/obj/lex.o: $(BUILD)/gen/lex.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/libqlx.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/qlxc: $(BUILD)/obj/main.o $(BUILD)/libqlx.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libqlx.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libqlx.a $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libqlx.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libqlx.a $(LDLIBS)

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/tests/*.d $(BUILD)/bench/*.d)
.SECONDARY:

# --- set-up -------------------------------------------------------------------
DEBS = make gcc clang re2c pkg-config liblua5.4-dev libsundials-dev \
       libopenblas-dev libopenmpi-dev openmpi-bin python3

# The editor tests run any Vim and Emacs (emacs-nox would replace a
# graphical Emacs), so those are asked for by command, as node and npm are.
deps:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	command -v vim >/dev/null || missing="$$missing vim"; \
	command -v emacs >/dev/null || missing="$$missing emacs-nox"; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: all present"; fi
	@# VS Code's tokenizer for the editor tests, at the lock file's versions
	@cd tests/editors && { [ -d node_modules/vscode-textmate ] && [ -d node_modules/vscode-oniguruma ] || \
	  npm ci --no-audit --no-fund --loglevel=error; }

# --- editor grammars: editors/**/X.in -> X, word lists from lang/keywords.def ----
EDITOR_IN = $(shell find editors -name '*.in' 2>/dev/null | sort)

$(BUILD)/gen_editors: lang/gen_editors.c lang/keywords.def
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O1 $(WARN) -Ilang -o $@ lang/gen_editors.c

editors: $(BUILD)/gen_editors
	@for t in $(EDITOR_IN); do $(BUILD)/gen_editors $$t $${t%.in} || exit 1; done

# --- the main job ---------------------------------------------------------------
# Simulate the bundled two-compartment study design and write its table.
# (Estimation, Monte Carlo trials and dose finding join with later issues.)
RUN_MODEL = examples/simulation/oral_2cmt.qlx

run: all
	QLX_STDLIB=$(CURDIR)/stdlib $(BUILD)/qlxc run -o $(BUILD)/run $(RUN_MODEL)
	@echo "first rows of $(BUILD)/run/sim.csv:"; head -5 $(BUILD)/run/sim.csv

# --- tests ----------------------------------------------------------------------
test: all $(UNIT_BIN) $(BUILD)/gen_editors
	@QLXC=$(BUILD)/qlxc BUILD=$(BUILD) bash tests/run

# the Phase 1 fits (tests/estdata) take minutes; under the sanitizers, ten times that
test-san:
	@ESTDATA_SKIP=1 $(MAKE) --no-print-directory SAN=1 test

FUZZ_BUILD = build-fuzz
FUZZ_CC = clang -std=c11 -g -O1 -D_POSIX_C_SOURCE=200809L -Isrc \
	  $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -fno-sanitize-recover=all
FUZZ_OBJ = $(LIB_SRC:src/%.c=$(FUZZ_BUILD)/obj/%.o) $(FUZZ_BUILD)/obj/lex.o
FUZZ_RUN = -timeout=5 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1

$(FUZZ_BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

$(FUZZ_BUILD)/obj/lex.o: $(FUZZ_BUILD)/gen/lex.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_OBJ) $(LDLIBS)

# libFuzzer over every reader of untrusted input: the model front end
# (FUZZ_SECONDS), the dataset reader and the OpenQASM reader (half as long
# each).
fuzz: $(FUZZ_BUILD)/fuzz_front $(FUZZ_BUILD)/fuzz_data $(FUZZ_BUILD)/fuzz_qasm
	@mkdir -p $(FUZZ_BUILD)/corpus $(FUZZ_BUILD)/corpus-data
	cp -f tests/errors/*.qlx examples/*/*.qlx stdlib/*.qlx $(FUZZ_BUILD)/corpus/ 2>/dev/null || true
	cp -f tests/data/bad/*.csv examples/*/*.csv $(FUZZ_BUILD)/corpus-data/ 2>/dev/null || true
	@# the fuzzer's dictionary: every word of the keyword table, and the operators
	{ sed -n 's/^\(RECORD\|RECORD_ALIAS\)(\([A-Za-z_]*\),.*/"$$\2"/p' lang/keywords.def; \
	  sed -n 's/^[A-Z_]*(\([A-Za-z_]*\), *\([A-Za-z_0-9]*\).*/"\1"\n"\2"/p' lang/keywords.def; \
	  printf '"%s"\n' "d/dt" "->" "**" ".EQ." ".AND." "&&" "||" "==" "!=" "<=" ">=" "~" "(" ")" "{" "}"; \
	} | grep -v '^""$$' | sort -u >$(FUZZ_BUILD)/qlx.dict
	$(FUZZ_BUILD)/fuzz_front -max_total_time=$(FUZZ_SECONDS) $(FUZZ_RUN) \
	  -dict=$(FUZZ_BUILD)/qlx.dict $(FUZZ_BUILD)/corpus
	$(FUZZ_BUILD)/fuzz_data -max_total_time=$$(( $(FUZZ_SECONDS) / 2 )) $(FUZZ_RUN) \
	  $(FUZZ_BUILD)/corpus-data
	@mkdir -p $(FUZZ_BUILD)/corpus-qasm
	cp -f tests/qasm/*.qasm $(FUZZ_BUILD)/corpus-qasm/ 2>/dev/null || true
	$(FUZZ_BUILD)/fuzz_qasm -max_total_time=$$(( $(FUZZ_SECONDS) / 2 )) $(FUZZ_RUN) \
	  $(FUZZ_BUILD)/corpus-qasm

$(FUZZ_BUILD)/gen/lex.c: lang/lex.re
	@mkdir -p $(dir $@)
	$(RE2C) -W --no-generation-date -o $@ $<

# --- benchmarks -----------------------------------------------------------------
bench: all $(BENCH_BIN)
	@BUILD=$(BUILD) QLXC=$(BUILD)/qlxc bash bench/run
	@echo; echo "== statevector simulator: time per gate vs memory bandwidth (bench_qc 24 adds 24 qubits)"
	@$(BUILD)/bench/bench_qc

bench-deps:
	SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	  python3-scipy python3-torch r-cran-desolve r-cran-nlme r-base-dev time hyperfine

# --- install --------------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/qlynix/stdlib
	install -m 755 $(BUILD)/qlxc $(DESTDIR)$(PREFIX)/bin/qlxc
	install -m 644 stdlib/*.qlx $(DESTDIR)$(PREFIX)/share/qlynix/stdlib/
	install -d $(DESTDIR)$(PREFIX)/share/qlynix/stdlib/lua
	install -m 644 stdlib/lua/*.lua $(DESTDIR)$(PREFIX)/share/qlynix/stdlib/lua/

clean:
	rm -rf build build-san build-fuzz
