# Ferry's entry points.  `make demo` and `make test` set up everything they
# need (scripts/setup installs Debian packages and CRIU), so a fresh Debian 12
# machine needs nothing else.  Everything here runs as root.
BUILD      ?= build
BUILD_SAN  ?= build-asan
BUILD_FUZZ ?= build-fuzz
# CI builds with -Werror; locally warnings stay warnings.
ifeq ($(CI),true)
WERROR := -Dwerror=true
endif

.PHONY: all setup build build-asan build-fuzz test demo fuzz format format-check clean install

all: build

setup:
	scripts/setup

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(WERROR)

build: $(BUILD)/build.ninja
	meson configure $(BUILD) $(if $(WERROR),-Dwerror=true,-Dwerror=false) >/dev/null
	ninja -C $(BUILD)

# ASan + UBSan build: unit tests and fuzz corpora also run here.
$(BUILD_SAN)/build.ninja:
	meson setup $(BUILD_SAN) $(WERROR) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

build-asan: $(BUILD_SAN)/build.ninja
	ninja -C $(BUILD_SAN)

# libFuzzer targets (clang).
$(BUILD_FUZZ)/build.ninja:
	CC=clang meson setup $(BUILD_FUZZ) -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

build-fuzz: $(BUILD_FUZZ)/build.ninja
	ninja -C $(BUILD_FUZZ)

test: setup
	$(MAKE) build build-asan build-fuzz
	tests/run

# Programs, systemd units and example configuration under PREFIX (default
# /usr/local; DESTDIR honoured).  See docs/DEPLOY.md.
install: setup
	$(MAKE) build
	meson install -C $(BUILD) --no-rebuild $(if $(DESTDIR),--destdir $(DESTDIR))

demo: setup
	$(MAKE) build
	scripts/demo

# Run every fuzz target for FUZZ_SECONDS each (default 60).
fuzz: build-fuzz
	tests/fuzz/run $(BUILD_FUZZ) $${FUZZ_SECONDS:-60}

format:
	clang-format -i $$(git ls-files --cached --others --exclude-standard '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_SAN) $(BUILD_FUZZ)
