// Where the Lambda code comes from: the cargo-lambda artifacts of the workspace,
//   make lambdas  (scripts/package-lambdas.sh: cargo lambda build --release --arm64 for both)
// -> <repo>/target/lambda/{scheduler,worker}/bootstrap (the directory becomes the zip).
//
// Missing artifacts are an error with the build command in it, so `cdk deploy` can never ship an
// empty function. Validation (scripts/validate-infra.sh) synthesizes without building the Rust code:
// it passes `-c placeholderAssets=true`, and then a missing artifact is replaced by a placeholder
// directory under infra/cdk/.placeholder-assets/ (git-ignored) whose bootstrap only exits with an
// error, and the stack gets a warning annotation. Never deploy a placeholder synth.
import * as fs from 'fs';
import * as path from 'path';
import { Annotations, Stack } from 'aws-cdk-lib';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

export function functionCodeDir(stack: Stack, fn: string): string {
  const ctxDir: string | undefined = stack.node.tryGetContext('artifactsDir');
  const base = ctxDir ? path.resolve(ctxDir) : path.join(REPO_ROOT, 'target', 'lambda');
  const dir = path.join(base, fn);
  if (fs.existsSync(path.join(dir, 'bootstrap'))) {
    return dir;
  }
  const placeholder = ['true', true].includes(stack.node.tryGetContext('placeholderAssets'));
  if (!placeholder) {
    throw new Error(
      `Lambda artifact ${path.join(dir, 'bootstrap')} not found. Build the functions first, from ${REPO_ROOT}:\n` +
        '  make lambdas   (scripts/package-lambdas.sh: cargo lambda build --release --arm64)\n' +
        '(or pass -c artifactsDir=DIR; for a synth-only check: -c placeholderAssets=true)',
    );
  }
  const ph = path.join(__dirname, '..', '.placeholder-assets', fn);
  fs.mkdirSync(ph, { recursive: true });
  fs.writeFileSync(
    path.join(ph, 'bootstrap'),
    `#!/bin/sh\necho "placeholder for ${fn}: build it with cargo lambda build --release --arm64" >&2\nexit 1\n`,
    { mode: 0o755 },
  );
  Annotations.of(stack).addWarningV2(
    'compliance-lake:placeholder-asset',
    `${fn}: ${dir}/bootstrap is missing; using a placeholder (synth-only, do not deploy)`,
  );
  return ph;
}
