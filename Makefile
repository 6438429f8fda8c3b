# Thin wrapper over Meson + Ninja. `make test` and `make demo` work alone on a
# fresh Debian 12 machine: they install what is missing first.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30
PYTHON ?= /usr/bin/python3
PYTEST = $(PYTHON) -m pytest -q -p no:cacheprovider

.PHONY: all deps test unit system demo demo-lb check-asan fuzz bench install clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD)

deps:
	sh scripts/deps.sh

unit: all
	meson test -C $(BUILD) --print-errorlogs --suite unit --suite fuzz-seeds

system: all
	BERTH_BIN=$(abspath $(BUILD))/berth $(PYTEST) tests/system

test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) system

demo: deps
	$(MAKE) all
	sh scripts/demo.sh $(BUILD)/berth

demo-lb: deps
	$(MAKE) all
	sh scripts/demo-lb.sh $(BUILD)/berth

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

check-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(ASAN_BUILD) --print-errorlogs --suite unit --suite fuzz-seeds
	@# Criterion passes a test whose forked child only printed a leak report
	@# at exit: read the log for any sanitizer report.
	@if grep -nE "ERROR: (Address|Leak)Sanitizer|runtime error:" $(ASAN_BUILD)/meson-logs/testlog.txt; then \
		echo "check-asan: sanitizer reports in the unit tests (above)"; exit 1; fi
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		BERTH_BIN=$(abspath $(ASAN_BUILD))/berth BERTH_ASAN=1 $(PYTEST) tests/system

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Dunit_tests=disabled \
		-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized

fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	sh scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: deps
	$(MAKE) all
	sh bench/lb.sh $(BUILD)/berth
	sh bench/agent.sh $(BUILD)/berth
	sh bench/dns.sh $(BUILD)/berth
	sh bench/discovery.sh $(BUILD)/berth
	sh bench/logs.sh $(BUILD)/berth
	sh bench/docker.sh $(BUILD)/berth

install: all
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
