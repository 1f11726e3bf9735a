# Deploying compliance-lake takes three commands (README, "Deploy to AWS"):
#   make                      # this file: the two Lambda functions for arm64 + the CLI, built once
#   sam deploy --guided       # or: cd infra/cdk && npm ci && npx cdk deploy
#   target/bin/compliance-lake key register --secret-id ... --table ...   # printed as a stack output
#
# `make` builds:
#   target/lambda/{scheduler,worker}/bootstrap  arm64 (provided.al2023), what infra/template.yaml and the
#                                              CDK app deploy: one `cargo lambda build` for both functions
#                                              (scripts/package-lambdas.sh installs cargo-lambda + zig from PyPI)
#   target/bin/compliance-lake                 the CLI for this machine (key register/status/revoke, sync, dlp)
# CARGO_TARGET_DIR is honoured (default as in scripts/package-lambdas.sh).
export CARGO_TARGET_DIR ?= $(HOME)/.cache/compliance-lake/target

.PHONY: build lambdas cli validate
build: lambdas cli
	@echo "built: target/lambda/scheduler/bootstrap target/lambda/worker/bootstrap target/bin/compliance-lake"
	@echo "next:  sam deploy --guided   (or: cd infra/cdk && npm ci && npx cdk deploy)"

lambdas:
	bash scripts/package-lambdas.sh

cli:
	cargo build --release --locked --bin compliance-lake
	mkdir -p target/bin
	ln -sf "$(CARGO_TARGET_DIR)/release/compliance-lake" target/bin/compliance-lake

# Offline checks of infra/ (templates, IAM, Athena over the demo's output).
validate:
	bash scripts/validate-infra.sh
