# Makefile - build, run, test and install mod_websocket, a native WebSocket
# server module for Apache httpd 2.4 (Debian's apache2-bin + apxs).
#
#   make [build]          build/mod_websocket.so + handler objects (apxs -c)
#   make run              private httpd in the foreground: http/ws on :9998,
#                         https/wss (and HTTP/2) on :9443; the handlers of
#                         handlers/ at /echo /room /chat /increment /close;
#                         one child unless EXTRA_CONF has WebSocketPubSub
#   make start [PORT=n] [TLS_PORT=m] [EXTRA_CONF=file]
#                         the same in the background (returns once it listens)
#   make stop  [PORT=n]   stop it
#   make tls-cert         build/tls/server.{crt,key}: self-signed, localhost
#   make test             unit tests, fuzz replay, Apache::Test suite under
#                         mpm_event and again under mpm_prefork
#   make test SANITIZE=1  the same with ASan/UBSan builds
#   make test-valgrind    the Apache::Test suite once with its httpd as one
#                         process (-X) under valgrind memcheck (not part of
#                         `make test`; scripts/valgrind-test.sh)
#   make install          apxs -i + handlers + header/.pc + Debian mods-available files
#   make deb              build/deb/: the Debian packages (debian/), lintian-checked
#   make bench            bench/run (when it exists)
#   make clean
# run, start, test, bench and deb first run scripts/deps.sh (installs what is
# missing with apt-get/npm, silent otherwise); run-nodeps, start-nodeps,
# test-nodeps, bench-nodeps and deb-nodeps skip that.  V=1 shows full build commands;
# WERROR=1 adds -Werror.
#
# Every server started here is a private instance: system binary
# /usr/sbin/apache2, modules from /usr/lib/apache2/modules, its own
# ServerRoot, config, logs and pid file under build/.  /etc/apache2 and the
# system service are never touched (apache2 -f always gets an ABSOLUTE path:
# with a relative one it looks under /etc/apache2, and `-k stop` would then
# silently act on another instance).

# bash with pipefail for every recipe: ulimit, [[ ]], and a failing command
# in a pipe (e.g. `apxs ... | tee`) must fail the target.
SHELL       := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := all

# The protocol core (helper-owned fragment): CORE_SRCS, CORE_CFLAGS,
# CORE_LIBS and the targets unit-test, fuzz-replay, fuzz.  `-include` so
# that this Makefile still works in a tree that does not have it yet.
-include mk/core.mk

APXS        ?= apxs
HTTPD       ?= /usr/sbin/apache2
MODULE_DIR  ?= /usr/lib/apache2/modules
# Recursive (=) so apxs is only asked when `install` needs them.
LIBEXECDIR   = $(shell $(APXS) -q LIBEXECDIR 2>/dev/null || echo $(MODULE_DIR))
# The handler API header and its pkg-config file (mod_websocket.pc, cflags
# only, hence arch-independent /usr/share/pkgconfig).  The header gets a
# directory of its own rather than apxs's INCLUDEDIR (/usr/include/apache2,
# apache2-dev's): it includes nothing from httpd or APR, and a handler
# author needs neither (see debian/README.source).
INCLUDEDIR  ?= /usr/include/mod_websocket
PKGCONFIGDIR ?= /usr/share/pkgconfig
APACHE_ETC  ?= /etc/apache2
DESTDIR     ?=

BUILD       := $(CURDIR)/build
OBJ         := $(BUILD)/obj
PORT        ?= 9998
# Listen address of `make run/start`: all interfaces like the tutorial's
# standalone server; e.g. LISTEN=127.0.0.1:9998 to keep it local.
LISTEN      ?= $(PORT)
# https:// and wss:// (HTTP/1.1 and HTTP/2, ALPN) of `make run/start`, on
# the self-signed certificate below.  TLS_LISTEN like LISTEN.
TLS_PORT    ?= 9443
TLS_LISTEN  ?= $(TLS_PORT)
# Children of the private server run as an unprivileged user.
RUN_USER    ?= $(shell id -u www-data >/dev/null 2>&1 && echo www-data || echo nobody)
RUN_GROUP   ?= $(shell id -gn $(RUN_USER) 2>/dev/null || echo nogroup)

comma := ,
define newline


endef
# V=1 echoes the full build commands.
Q := $(if $(filter 1,$(V)),,@)

# ---------------------------------------------------------------- sources
# CORE_SRCS may come relative or $(CURDIR)-absolute; we want them relative
# (they are mirrored under build/obj, see apxs_build).
CORE_SRCS_REL := $(patsubst $(CURDIR)/%,%,$(CORE_SRCS))
MOD_SRCS    := mod_websocket.c $(sort $(wildcard src/engine/*.c)) $(CORE_SRCS_REL)
# The shipped handlers: handlers/<name>.c -> build/mod_websocket_<name>.so,
# built by `build`, installed by `install` and packaged by `make deb` (the
# .deb takes every mod_websocket_*.so that `install` puts in LIBEXECDIR), all
# from this one list.  A new handler is one word here (plus its own libraries
# in HANDLER_LIBS_<name> if it needs any).  echo is the tutorial's, room
# the README's timer/broadcast example; chat, increment and close are the
# examples with a page under htdocs/.
HANDLERS    := echo room chat increment close
HANDLER_LIBS_room := -lpthread
TEST_SRCS   := t/handlers/test_handler.c t/handlers/bad_handlers.c \
               t/handlers/hostile_handler.c t/handlers/v2_handler.c \
               t/handlers/pubsub_handler.c
# A handler built against the version-1 header (t/handlers/v1/), which a
# version-2 module must keep loading.
V1_SRCS     := t/handlers/v1/v1_handler.c
# A handler written for WebSocketHandlerRoot (exports ws_handler_init).
ROOTTEST_SRCS := t/handlers/root_handler.c
# Headers only matter for "rebuild when changed"; all of them, cheap.
HDRS        := $(wildcard include/*.h src/*/*.h handlers/*.h t/handlers/*.h \
                          t/handlers/v1/*.h)

WARN_CFLAGS := -Wall -Wextra
# WERROR=1 turns warnings into errors (the code is meant to be -Wall -Wextra clean).
ifeq ($(WERROR),1)
WARN_CFLAGS += -Werror
endif
# SANITIZE=1: ASan + UBSan in all three shared objects.  httpd itself is not
# instrumented, so the ASan runtime must be preloaded into it: see
# scripts/httpd-wrapper (used by run/start and the test suite).
# Only "1" means on (mk/core.mk defaults SANITIZE to 0).
ifeq ($(SANITIZE),1)
SAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer
endif

# EXTRA_CFLAGS / EXTRA_LDFLAGS: a distribution's flags on top of apxs's own
# (debian/rules passes dpkg-buildflags' CPPFLAGS+CFLAGS and LDFLAGS: apxs
# already hardens, but without _FORTIFY_SOURCE or the file-prefix map that
# makes the build reproducible).  Into the module and the shipped handlers.
EXTRA_CFLAGS  ?=
EXTRA_LDFLAGS ?=
MOD_CFLAGS  := -Iinclude -Isrc/core -Isrc/engine $(CORE_CFLAGS) $(WARN_CFLAGS) $(SAN_FLAGS) $(EXTRA_CFLAGS)
MOD_LIBS    := $(CORE_LIBS) -lhiredis $(SAN_FLAGS) $(EXTRA_LDFLAGS)
HANDLER_CFLAGS := -Iinclude $(WARN_CFLAGS) $(SAN_FLAGS) $(EXTRA_CFLAGS)
HANDLER_LIBS   := $(SAN_FLAGS) $(EXTRA_LDFLAGS)
TEST_HANDLER_CFLAGS := -Iinclude -It/handlers $(WARN_CFLAGS) $(SAN_FLAGS)

MODULE      := $(BUILD)/mod_websocket.so
HANDLER_SOS := $(patsubst %,$(BUILD)/mod_websocket_%.so,$(HANDLERS))
PC_FILE     := $(BUILD)/mod_websocket.pc
VERSION     := $(or $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog 2>/dev/null),0)
ABI_VERSION := $(shell sed -n 's/^\#define WS_HANDLER_ABI_VERSION \([0-9]*\).*/\1/p' include/mod_websocket.h)
TEST_SO     := $(BUILD)/mod_websocket_test.so
V1_SO       := $(BUILD)/mod_websocket_v1test.so
ROOTTEST_SO := $(BUILD)/mod_websocket_roottest.so
# The handler directory of `make run` (WebSocketHandlerRoot in
# conf/httpd.conf.in): handlers/<name>.so serves /<name>.  Copies, not
# links: this is what an installed handler directory looks like, and more
# handlers are dropped in the same way.
HANDLER_DIR := $(BUILD)/handlers
RUN_HANDLERS := $(patsubst %,$(HANDLER_DIR)/%.so,$(HANDLERS))
# The suite's handler root (t/conf/extra.conf.in, t/api/handler_root.t).
T_ROOT      := $(BUILD)/t-handler-root
T_ROOT_STAMP := $(T_ROOT)/.made
# The test handler is built by `build` once its source exists; `test`
# requires it (the suite's /test location loads it).
SOS         := $(MODULE) $(HANDLER_SOS) $(RUN_HANDLERS) \
               $(if $(wildcard $(TEST_SRCS)),$(TEST_SO) $(V1_SO) $(ROOTTEST_SO) $(T_ROOT_STAMP))

# apxs passes -I/-D (compile) and -l/-L (link) through itself; anything else
# must be wrapped in -Wc,/-Wl, or apxs rejects it.
apxs_cflags = $(foreach f,$(1),$(if $(filter -I% -D% -U%,$(f)),$(f),-Wc$(comma)$(f)))
apxs_libs   = $(foreach f,$(1),$(if $(filter -l% -L%,$(f)),$(f),-Wl$(comma)$(f)))

# apxs_build(name, sources, cflags, libs): `apxs -c` writes libtool objects
# (.lo .slo .o .libs/) NEXT TO each source.  To keep them out of the source
# tree we compile in build/obj/<name>/, a mirror of the sources made of
# symlinks (so quoted/relative #includes and relative -I paths resolve as
# in the tree, and a compiler message opens the real file).  Sources are
# passed as absolute mirror paths so the messages are clickable.
# The full apxs/libtool output goes to build/obj/<name>/build.log; only
# compiler diagnostics are shown (V=1 shows the commands too).
define apxs_build
@echo "  APXS    build/$(1).so  ($(words $(2)) source files)"
@rm -rf $(OBJ)/$(1) && mkdir -p $(OBJ)/$(1)
@for f in $(2) $(HDRS); do mkdir -p "$(OBJ)/$(1)/$$(dirname $$f)"; \
    ln -s "$(CURDIR)/$$f" "$(OBJ)/$(1)/$$f"; done
$(Q)cd $(OBJ)/$(1) && $(APXS) -c -o $(1).la $(call apxs_cflags,$(3)) \
    $(call apxs_libs,$(4)) $(addprefix $(OBJ)/$(1)/,$(2)) >build.log 2>&1 \
    || { cat build.log; echo "apxs failed: see build/obj/$(1)/build.log" >&2; exit 1; }
@grep -E 'warning:|error:|note:' -A3 $(OBJ)/$(1)/build.log || true
@# A new inode (cp to a temp, then rename): a running httpd has the old
@# file mapped, and overwriting it in place would crash it.
$(Q)cp $(OBJ)/$(1)/.libs/$(1).so $@.tmp && mv -f $@.tmp $@
endef

# ---------------------------------------------------------------- build
.PHONY: all build modules deb deps run start stop test install clean bench FORCE tls-cert \
        run-nodeps start-nodeps test-nodeps bench-nodeps deb-nodeps \
        test-valgrind test-valgrind-nodeps

all: build
build: $(SOS)

# Rebuild everything when the flags change (SANITIZE=1 vs not, WERROR...):
# make only sees timestamps, the stamp makes the flags a prerequisite.
$(BUILD)/.flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(MOD_CFLAGS) | $(MOD_LIBS) | $(HANDLER_CFLAGS) | $(HANDLER_LIBS)' > $@.new
	@cmp -s $@.new $@ && rm -f $@.new || mv -f $@.new $@

$(MODULE): $(MOD_SRCS) $(HDRS) $(wildcard mk/core.mk) $(BUILD)/.flags
	$(call apxs_build,mod_websocket,$(MOD_SRCS),$(MOD_CFLAGS),$(MOD_LIBS))

$(HANDLER_SOS): $(BUILD)/mod_websocket_%.so: handlers/%.c $(HDRS) $(BUILD)/.flags
	$(call apxs_build,mod_websocket_$*,handlers/$*.c,$(HANDLER_CFLAGS),$(HANDLER_LIBS) $(HANDLER_LIBS_$*))

$(TEST_SO): $(TEST_SRCS) $(HDRS) $(BUILD)/.flags
	$(call apxs_build,mod_websocket_test,$(TEST_SRCS),$(TEST_HANDLER_CFLAGS),$(SAN_FLAGS) -lpthread)

$(V1_SO): $(V1_SRCS) $(HDRS) $(BUILD)/.flags
	$(call apxs_build,mod_websocket_v1test,$(V1_SRCS),$(WARN_CFLAGS) $(SAN_FLAGS),$(SAN_FLAGS))

$(ROOTTEST_SO): $(ROOTTEST_SRCS) $(HDRS) $(BUILD)/.flags
	$(call apxs_build,mod_websocket_roottest,$(ROOTTEST_SRCS),$(TEST_HANDLER_CFLAGS),$(SAN_FLAGS))

# A new inode (cp, then rename) for the same reason as in apxs_build.
$(HANDLER_DIR)/%.so: $(BUILD)/mod_websocket_%.so
	@mkdir -p $(HANDLER_DIR)
	$(Q)cp $< $@.tmp && mv -f $@.tmp $@

# build/t-handler-root/, made afresh each time one of its objects changes:
#   a/b.so, a/b/c.so, explicit.so   -> roottest (ws_handler_init):
#                                      /a/b, /a/b/c, /explicit
#   fallback/echo.so                -> the echo handler (init = file name)
#   notes.txt, .hidden.so           -> not handlers: ignored
# Symbolic links (absolute): the scan follows them, and a rebuilt object
# (a new inode under the same name) is what the next start loads.
$(T_ROOT_STAMP): $(ROOTTEST_SO) $(BUILD)/mod_websocket_echo.so
	@echo "  ROOT    build/t-handler-root/"
	@rm -rf $(T_ROOT) && mkdir -p $(T_ROOT)/a/b $(T_ROOT)/fallback
	$(Q)for l in a/b a/b/c explicit; do ln -s $(ROOTTEST_SO) $(T_ROOT)/$$l.so; done
	$(Q)ln -s $(BUILD)/mod_websocket_echo.so $(T_ROOT)/fallback/echo.so
	$(Q)echo 'not a handler: the scan takes *.so only' > $(T_ROOT)/notes.txt
	$(Q)echo 'hidden: the scan skips names that start with a dot' > $(T_ROOT)/.hidden.so
	@touch $@

# run, start, test and bench first install what is missing, then go on in a
# sub-make: mk/core.mk asks apr-1-config for flags when make reads it, which
# on a fresh machine is before deps.sh has installed apache2-dev (and with
# -j nothing may compile while apt-get still runs).  The *-nodeps targets
# skip the check.
deps:
	@scripts/deps.sh

run start test bench deb: deps
	@$(MAKE) --no-print-directory $@-nodeps

# ---------------------------------------------------------------- TLS certificate
# One self-signed certificate for every TLS listener the project starts
# (`make run/start` and the Apache::Test suite's TLS vhost): CN=localhost
# with subjectAltName DNS:localhost and IP:127.0.0.1, because clients match
# the SAN, not the CN, and tests connect to 127.0.0.1 while browsers use
# localhost.  Nothing trusts it: clients skip verification (see README).
# EC P-256 rather than RSA: the suites open thousands of connections and
# ECDSA handshakes are several times cheaper for the server.  Only the root
# parent of httpd reads the key (before it forks), hence mode 0600.  Made
# once; `make clean` (or deleting build/tls) makes a new one.
TLS_DIR     := $(BUILD)/tls
TLS_CRT     := $(TLS_DIR)/server.crt
TLS_KEY     := $(TLS_DIR)/server.key
TLS_DAYS    ?= 3650

tls-cert: $(TLS_CRT)

# Written under temporary names and renamed in one go: an interrupted
# openssl never leaves a key without its certificate (or a half file).
$(TLS_CRT):
	@echo "  OPENSSL build/tls/server.crt  (self-signed, CN=localhost)"
	@mkdir -p $(TLS_DIR)
	$(Q)umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -sha256 -days $(TLS_DAYS) -subj /CN=localhost \
	    -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
	    -addext 'basicConstraints=critical,CA:FALSE' \
	    -addext 'extendedKeyUsage=serverAuth' \
	    -keyout $(TLS_KEY).new -out $(TLS_CRT).new >$(TLS_DIR)/openssl.log 2>&1 \
	    || { cat $(TLS_DIR)/openssl.log >&2; rm -f $(TLS_KEY).new $(TLS_CRT).new; exit 1; }
	@chmod 0600 $(TLS_KEY).new && chmod 0644 $(TLS_CRT).new
	@mv -f $(TLS_KEY).new $(TLS_KEY) && mv -f $(TLS_CRT).new $@

# ---------------------------------------------------------------- private server
# build/run-$(PORT)/ is the ServerRoot (conf/, logs/, pid); the page is
# served from a world-readable staging copy because the children run as
# $(RUN_USER) and the clone may live under a 0700 directory (/root/...).
RUN_DIR     := $(BUILD)/run-$(PORT)
RUN_CONF    := $(RUN_DIR)/conf/httpd.conf
RUN_PID     := $(RUN_DIR)/logs/httpd.pid
RUN_HTDOCS  := /tmp/mod_websocket-htdocs-$(PORT)
# SANITIZE=1: run httpd through the wrapper that preloads the ASan runtime.
# Its logs go to a world-writable dir: the children (not root) write them.
RUN_ASAN    := /tmp/mod_websocket-asan-$(PORT)
ifeq ($(SANITIZE),1)
RUN_HTTPD   := env WS_ASAN_DIR=$(RUN_ASAN) WS_HTTPD_REAL=$(HTTPD) $(CURDIR)/scripts/httpd-wrapper
else
RUN_HTTPD   := $(HTTPD)
endif

$(RUN_CONF): conf/httpd.conf.in FORCE
	@mkdir -p $(RUN_DIR)/conf $(RUN_DIR)/logs
	@if [ "$(SANITIZE)" = 1 ]; then rm -rf $(RUN_ASAN); install -d -m 1777 $(RUN_ASAN); fi
	@# Stage the page: a real directory (not a symlink someone planted in
	@# /tmp), world-readable, refreshed on every start.
	@if [ -L $(RUN_HTDOCS) ]; then rm -f $(RUN_HTDOCS); fi
	@install -d -m 0755 $(RUN_HTDOCS)
	@install -m 0644 htdocs/*.html $(RUN_HTDOCS)/
	@sed -e 's|@PORT@|$(PORT)|g' -e 's|@LISTEN@|$(LISTEN)|g' \
	     -e 's|@TLS_PORT@|$(TLS_PORT)|g' -e 's|@TLS_LISTEN@|$(TLS_LISTEN)|g' \
	     -e 's|@TLS_CRT@|$(TLS_CRT)|g' -e 's|@TLS_KEY@|$(TLS_KEY)|g' \
	     -e 's|@SERVER_ROOT@|$(RUN_DIR)|g' -e 's|@MODULE_DIR@|$(MODULE_DIR)|g' \
	     -e 's|@BUILD_DIR@|$(BUILD)|g' -e 's|@HTDOCS@|$(RUN_HTDOCS)|g' \
	     -e 's|@RUN_USER@|$(RUN_USER)|g' -e 's|@RUN_GROUP@|$(RUN_GROUP)|g' \
	     conf/httpd.conf.in > $@.new
	@# EXTRA_CONF=file: the user's own handlers and Locations, last.
	@if [ -n "$(EXTRA_CONF)" ]; then \
	    [ -r "$(EXTRA_CONF)" ] || { echo "error: EXTRA_CONF=$(EXTRA_CONF) is not a readable file" >&2; exit 1; }; \
	    printf '\n# EXTRA_CONF\nInclude "%s"\n' "$(abspath $(EXTRA_CONF))" >> $@.new; fi
	@mv -f $@.new $@

# How many children (conf/httpd.conf.in): topics, and so chat rooms, span
# one child unless WebSocketPubSub (Redis) carries them between children.
# Without a WebSocketPubSub line in EXTRA_CONF the server runs ONE child,
# so every WebSocket meets every other; with one, -D WEBSOCKET_PUBSUB lets
# it run several.  httpd keeps the define across graceful restarts.
PUBSUB_DEFINE := $(if $(EXTRA_CONF),$(shell grep -qsE '^[[:space:]]*WebSocketPubSub[[:space:]]' '$(EXTRA_CONF)' && echo -DWEBSOCKET_PUBSUB))
RUN_CHILDREN  := $(if $(PUBSUB_DEFINE),2 to 4 children (WebSocketPubSub in EXTRA_CONF),one child (no WebSocketPubSub: topics stay in it))

# Connections are file descriptors: thousands of WebSockets need a higher
# limit than the usual 1024.  Raised only in the recipe's own shell (never
# limits.conf & co.); falls back to the hard limit if 65536 is refused.
RAISE_NOFILE = ulimit -n 65536 2>/dev/null || ulimit -n "$$(ulimit -Hn)" || true

run-nodeps: build $(TLS_CRT) $(RUN_CONF)
	@echo "Serving http://localhost:$(PORT)/  and  ws://localhost:$(PORT)/echo"
	@echo "    and https://localhost:$(TLS_PORT)/  and  wss://localhost:$(TLS_PORT)/echo  (self-signed; Ctrl-C stops)"
	@echo "Examples: /chat.html /increment.html /close.html /console.html; $(RUN_CHILDREN)"
	@echo "Logs: $(RUN_DIR)/logs/"
	$(RAISE_NOFILE); exec $(RUN_HTTPD) -f $(RUN_CONF) $(PUBSUB_DEFINE) -DFOREGROUND

# Returns only once both ports accept TCP (bounded: START_WAIT tenths of s).
START_WAIT ?= 100
start-nodeps: build $(TLS_CRT) $(RUN_CONF)
	@if [ -f $(RUN_PID) ] && kill -0 "$$(cat $(RUN_PID))" 2>/dev/null; then \
	    echo "already running (pid $$(cat $(RUN_PID))) on port $(PORT)"; exit 0; fi; \
	for p in $(PORT) $(TLS_PORT); do \
	    if (exec 3<>/dev/tcp/127.0.0.1/$$p) 2>/dev/null; then \
	        echo "error: port $$p is already in use by another process" >&2; exit 1; fi; \
	done; \
	rm -f $(RUN_PID); \
	$(RAISE_NOFILE); \
	$(RUN_HTTPD) -f $(RUN_CONF) $(PUBSUB_DEFINE) -k start || { \
	    echo "error: httpd -k start failed (config above / error_log below)" >&2; \
	    tail -n 30 $(RUN_DIR)/logs/error_log >&2 2>/dev/null || true; exit 1; }; \
	for i in $$(seq $(START_WAIT)); do \
	    if [ -f $(RUN_PID) ] && kill -0 "$$(cat $(RUN_PID))" 2>/dev/null && \
	       (exec 3<>/dev/tcp/127.0.0.1/$(PORT)) 2>/dev/null && \
	       (exec 3<>/dev/tcp/127.0.0.1/$(TLS_PORT)) 2>/dev/null; then \
	        echo "started (pid $$(cat $(RUN_PID))): http://localhost:$(PORT)/ ws://localhost:$(PORT)/echo"; \
	        echo "    https://localhost:$(TLS_PORT)/ wss://localhost:$(TLS_PORT)/echo (self-signed)"; \
	        echo "    $(RUN_CHILDREN)"; \
	        exit 0; fi; \
	    sleep 0.1; \
	done; \
	echo "error: httpd did not accept connections on ports $(PORT) and $(TLS_PORT) within $$(( $(START_WAIT) / 10 )) s" >&2; \
	echo "--- $(RUN_DIR)/logs/error_log (tail):" >&2; \
	tail -n 30 $(RUN_DIR)/logs/error_log >&2 2>/dev/null || true; \
	exit 1

# -k stop (SIGTERM to the parent), then a bounded wait until the parent is
# gone.  -k stop parses the config first, so it fails if the module on disk
# no longer loads (e.g. rebuilt with SANITIZE=1 but stopped without it):
# then signal the pid from the pid file ourselves, which is all -k stop does.
STOP_WAIT ?= 150
stop:
	@if [ ! -f $(RUN_CONF) ] || [ ! -f $(RUN_PID) ] || ! kill -0 "$$(cat $(RUN_PID))" 2>/dev/null; then \
	    echo "not running (port $(PORT))"; rm -f $(RUN_PID); exit 0; fi; \
	pid=$$(cat $(RUN_PID)); \
	$(RUN_HTTPD) -f $(RUN_CONF) -k stop 2>/dev/null || kill -TERM $$pid; \
	for i in $$(seq $(STOP_WAIT)); do \
	    if ! kill -0 $$pid 2>/dev/null; then echo "stopped (pid $$pid)"; \
	        if ls $(RUN_ASAN)/*san.* >/dev/null 2>&1; then \
	            echo "error: sanitizer reports in $(RUN_ASAN):" >&2; \
	            cat $(RUN_ASAN)/*san.* >&2; exit 1; fi; \
	        exit 0; fi; \
	    sleep 0.1; \
	done; \
	echo "error: httpd (pid $$pid) still running after $$(( $(STOP_WAIT) / 10 )) s" >&2; \
	tail -n 20 $(RUN_DIR)/logs/error_log >&2 2>/dev/null || true; \
	exit 1

# ---------------------------------------------------------------- tests
# t/TEST is generated from t/TEST.PL (Apache::Test convention).
t/TEST: t/TEST.PL
	perl -MApache::TestMM -e 'Apache::TestMM::generate_script("t/TEST")'

# scripts/run-tests.sh runs, in order and each bounded in time: unit-test,
# fuzz-replay, the Apache::Test suite under mpm_event, then again (after
# -clean) under mpm_prefork; prints each runner's summary and fails if any
# failed.  The suite's TLS vhost uses the certificate of tls-cert.  It raises `ulimit -n` for the suite (an idle-scale test holds
# 2,000 WebSockets) and handles SANITIZE=1 (ASan logs fail the run).
# (No $(MAKE) on this line: make would run it even under `make -n`.)
test-nodeps: build $(TEST_SO) $(ROOTTEST_SO) $(T_ROOT_STAMP) $(TLS_CRT) t/TEST
	@SANITIZE='$(filter 1,$(SANITIZE))' scripts/run-tests.sh

# The Apache::Test suite once, its httpd one process (Apache::Test's
# -one-process, httpd -X) under valgrind memcheck: fails on any valgrind
# error (memory errors, definitely lost leaks) or test failure.  Reports
# and figures in build/valgrind/ (summary.txt).  Takes far longer than
# `make test` and is not part of it.  A plain build (no SANITIZE: ASan and
# valgrind do not mix).
test-valgrind:
	@scripts/deps.sh valgrind
	@$(MAKE) --no-print-directory test-valgrind-nodeps SANITIZE=0

test-valgrind-nodeps: build $(TEST_SO) $(ROOTTEST_SO) $(T_ROOT_STAMP) $(TLS_CRT) t/TEST
	@scripts/valgrind-test.sh

bench-nodeps: build
	bench/run

# ---------------------------------------------------------------- install
# What `install` and the Debian packages ship: the module, the handlers of
# HANDLERS and the pkg-config file (no test handlers).
modules: $(MODULE) $(HANDLER_SOS) $(PC_FILE)

# mod_websocket.pc: the cflags for building a handler (the header needs no
# library: every function is an inline wrapper over the module's table).
# Version from debian/changelog (a native package: that is the project's
# version), the ABI version from the header.
$(PC_FILE): include/mod_websocket.pc.in include/mod_websocket.h $(wildcard debian/changelog) FORCE
	@mkdir -p $(BUILD)
	@sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	     -e 's|@LIBEXECDIR@|$(LIBEXECDIR)|g' -e 's|@ABI_VERSION@|$(ABI_VERSION)|g' \
	     include/mod_websocket.pc.in > $@.new
	@cmp -s $@.new $@ && rm -f $@.new || mv -f $@.new $@

# apxs -i installs the libtool archive of the build (build/obj/...la, the
# same object as build/mod_websocket.so).  DESTDIR is honoured for
# packaging (apxs has no DESTDIR of its own, so its LIBEXECDIR is
# overridden with -S).  The header and mod_websocket.pc go along for
# handler authors.  The mods-available files are installed when that
# directory exists (a Debian httpd) or under a DESTDIR; the Debian package
# installs them with dh_apache2 instead (debian/not-installed).
install: modules
	install -d $(DESTDIR)$(LIBEXECDIR)
	$(APXS) -S LIBEXECDIR=$(DESTDIR)$(LIBEXECDIR) -i -n websocket $(OBJ)/mod_websocket/mod_websocket.la
	$(foreach h,$(HANDLERS),install -m 0644 $(BUILD)/mod_websocket_$(h).so $(DESTDIR)$(LIBEXECDIR)/mod_websocket_$(h).so$(newline))
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 0644 include/mod_websocket.h $(DESTDIR)$(INCLUDEDIR)/mod_websocket.h
	install -m 0644 $(PC_FILE) $(DESTDIR)$(PKGCONFIGDIR)/mod_websocket.pc
	@if [ -d $(DESTDIR)$(APACHE_ETC)/mods-available ] || [ -n "$(DESTDIR)" ]; then \
	    install -d $(DESTDIR)$(APACHE_ETC)/mods-available; \
	    install -m 0644 conf/websocket.load conf/websocket.conf $(DESTDIR)$(APACHE_ETC)/mods-available/; \
	    echo "installed $(APACHE_ETC)/mods-available/websocket.{load,conf}: a2enmod websocket"; \
	fi

# ---------------------------------------------------------------- Debian packages
# build/deb/: libapache2-mod-websocket and libapache2-mod-websocket-dev
# (.deb, plus the automatic -dbgsym package, .changes, .buildinfo, the
# build log and lintian's report), from debian/.  dpkg-buildpackage writes
# its results into the PARENT of the tree it builds, so it builds a copy
# of this tree (the working tree as it is, without build/, .git and
# node_modules) in build/deb/src/ and the results are moved up from there;
# nothing is written outside build/.  Then lintian, with the overrides in
# debian/*.lintian-overrides: any error or warning left fails `make deb`.
DEB_DIR     := $(BUILD)/deb
DEB_SRC     := $(DEB_DIR)/src/mod-websocket-$(VERSION)
# Parallel compile jobs of the package build.
DEB_JOBS    ?= $(shell nproc 2>/dev/null || echo 1)

deb-nodeps:
	@echo "  DEB     build/deb/  (dpkg-buildpackage -b; log: build/deb/build.log)"
	@rm -rf $(DEB_DIR) && mkdir -p $(DEB_SRC)
	$(Q)tar -C $(CURDIR) --exclude=./build --exclude=./.git --exclude=node_modules \
	    --exclude=./t/logs -cf - . | tar -C $(DEB_SRC) -xf -
	$(Q)cd $(DEB_SRC) && DEB_BUILD_OPTIONS="parallel=$(DEB_JOBS) $${DEB_BUILD_OPTIONS:-}" \
	    dpkg-buildpackage -us -uc -b >$(DEB_DIR)/build.log 2>&1 \
	    || { tail -n 40 $(DEB_DIR)/build.log >&2; echo "dpkg-buildpackage failed: see build/deb/build.log" >&2; exit 1; }
	@mv $(DEB_DIR)/src/*.deb $(DEB_DIR)/src/*.changes $(DEB_DIR)/src/*.buildinfo $(DEB_DIR)/
	@rm -rf $(DEB_DIR)/src
	@ls -1 $(DEB_DIR)/*.deb | sed 's|^$(CURDIR)/|    |'
	@echo "  LINTIAN build/deb/*.changes  (report: build/deb/lintian.txt)"
	@# One run, overridden tags shown (O:) with their justification.  With
	@# --show-overrides lintian's exit status counts overridden tags too, so
	@# the gate is the report itself: no E: or W: line, and lintian itself
	@# did not fail (status 0 or 2, "tags found").
	$(Q)rc=0; lintian --info --display-info --show-overrides $(DEB_DIR)/*.changes \
	    >$(DEB_DIR)/lintian.txt 2>&1 || rc=$$?; \
	grep -E '^[EWIPO]: ' $(DEB_DIR)/lintian.txt || true; \
	if [ $$rc -ne 0 ] && [ $$rc -ne 2 ]; then cat $(DEB_DIR)/lintian.txt >&2; \
	    echo "lintian failed (exit $$rc)" >&2; exit 1; fi; \
	if grep -qE '^[EW]: ' $(DEB_DIR)/lintian.txt; then \
	    echo "lintian: errors or warnings (above; details in build/deb/lintian.txt)" >&2; exit 1; fi

clean:
	@if [ -x t/TEST ]; then t/TEST -clean >/dev/null 2>&1 || true; fi
	rm -rf $(BUILD) t/TEST t/SMOKE t/logs
	rm -rf /tmp/mod_websocket-htdocs-$(PORT) /tmp/mod_websocket-asan-$(PORT)
