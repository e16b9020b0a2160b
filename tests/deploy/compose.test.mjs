//  deploy_compose: checks compose.yaml and the Dockerfile without a container engine.
//    OF_SOURCE_DIR=.. OF_BIN_DIR=../build/bin node --test tests/deploy/compose.test.mjs
//  The file is parsed as Compose reads it (merge keys, ${VAR:-default} with the defaults), then
//  checked against what the services need: the endpoints each binds or connects to, its settings
//  and database, a scalable ingress. Checks that need a built binary skip, saying so, until it
//  exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const sourceDir = path.resolve(process.env.OF_SOURCE_DIR ?? path.join(here, '..', '..'));
const binDir = path.resolve(process.env.OF_BIN_DIR ?? path.join(sourceDir, 'build', 'bin'));
const HELP_TIMEOUT_MS = 5000;

//  `yaml` is pinned in tests/node (scripts/npm-deps.sh installs it); resolve it from there
//  whatever the current directory, since ES modules ignore NODE_PATH.
const require = createRequire(path.join(sourceDir, 'tests', 'node', 'package.json'));
let YAML;
try {
    YAML = require('yaml');
} catch (err) {
    throw new Error(`package 'yaml' not found under tests/node: run scripts/npm-deps.sh (${err.message})`);
}

//  Who binds each bus endpoint (the others connect to it), and its default port.
const ENDPOINTS = {
    OLLAMAFLOW_CONFIG_ROUTER: { owner: 'configd', port: 43421 },
    OLLAMAFLOW_CONFIG_PUBLISHER: { owner: 'configd', port: 43422 },
    OLLAMAFLOW_SCHEDULER_ROUTER: { owner: 'scheduler', port: 43423 },
    OLLAMAFLOW_SCHEDULER_PUBLISHER: { owner: 'scheduler', port: 43424 },
    OLLAMAFLOW_HEALTH_PUBLISHER: { owner: 'healthmon', port: 43425 },
    OLLAMAFLOW_MODELS_PUBLISHER: { owner: 'modelsync', port: 43426 },
    OLLAMAFLOW_MODELS_ROUTER: { owner: 'modelsync', port: 43427 },
};
const ALL_ENDPOINTS = Object.keys(ENDPOINTS);
const PUBLISHERS = ALL_ENDPOINTS.filter((name) => name.endsWith('_PUBLISHER'));

//  The five services: the endpoints each connects to and the other variables it needs.
const SERVICES = {
    configd: { connects: [], needs: ['OLLAMAFLOW_DATABASE'] },
    scheduler: {
        connects: ['OLLAMAFLOW_CONFIG_ROUTER', 'OLLAMAFLOW_CONFIG_PUBLISHER',
            'OLLAMAFLOW_HEALTH_PUBLISHER', 'OLLAMAFLOW_MODELS_PUBLISHER'],
        needs: [],
    },
    healthmon: { connects: ['OLLAMAFLOW_CONFIG_ROUTER', 'OLLAMAFLOW_CONFIG_PUBLISHER'], needs: [] },
    modelsync: {
        connects: ['OLLAMAFLOW_CONFIG_ROUTER', 'OLLAMAFLOW_CONFIG_PUBLISHER', 'OLLAMAFLOW_HEALTH_PUBLISHER'],
        needs: [],
    },
    ingress: { connects: ALL_ENDPOINTS, needs: ['OLLAMAFLOW_HOSTNAME', 'OLLAMAFLOW_PORT'] },
};
const SERVICE_NAMES = Object.keys(SERVICES);
for (const [name, spec] of Object.entries(SERVICES)) {
    spec.binary = `ollamaflow-${name}`;
    spec.binds = ALL_ENDPOINTS.filter((endpoint) => ENDPOINTS[endpoint].owner === name);
}
//  Other binaries the image holds; a compose service may run them (e.g. the tap).
const TOOLS = {
    'ollamaflow-tap': { connects: PUBLISHERS },
    ollamaflowctl: { connects: [] },
    ollamaflow: { connects: [] },
    'ollama-sim': { connects: [] },
};
const ALL_BINARIES = [...SERVICE_NAMES.map((name) => SERVICES[name].binary), ...Object.keys(TOOLS)];

// ---- reading the files -----------------------------------------------------------------------

//  Compose interpolation with an empty environment: ${VAR:-default} and ${VAR-default} give the
//  default, ${VAR} and $VAR give '', $$ gives $. The test must not depend on the caller's shell.
function interpolate (value) {
    if (typeof value !== 'string')
        return value;
    return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+]([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
        (match, _braced, fallback) => (match === '$$' ? '$' : fallback ?? ''));
}

function loadCompose () {
    const file = path.join(sourceDir, 'compose.yaml');
    const doc = YAML.parseDocument(readFileSync(file, 'utf8'), { merge: true, prettyErrors: true });
    assert.deepEqual(doc.errors.map(String), [], 'compose.yaml does not parse');
    assert.deepEqual(doc.warnings.map(String), [], 'compose.yaml parses with warnings');
    return doc.toJS({ maxAliasCount: 1000 });
}

//  A service's environment as a plain object (Compose allows a map or a list of KEY=VALUE).
//  A key without a value (passed through from the shell) maps to null.
function environmentOf (service) {
    const env = service.environment ?? {};
    if (Array.isArray(env))
        return Object.fromEntries(env.map((item) => {
            const at = item.indexOf('=');
            return at < 0 ? [item, null] : [item.slice(0, at), interpolate(item.slice(at + 1))];
        }));
    return Object.fromEntries(Object.entries(env).map(([key, value]) =>
        [key, value === null ? null : interpolate(String(value))]));
}

//  A service's command as words (Compose allows a list or a string).
function commandOf (service) {
    const command = service.command ?? service.entrypoint;
    if (Array.isArray(command))
        return command.map(interpolate);
    if (typeof command === 'string')
        return interpolate(command).trim().split(/\s+/);
    return [];
}

//  A service's volumes in long form: { type, source, target, read_only }.
function volumesOf (service) {
    return (service.volumes ?? []).map((volume) => {
        if (typeof volume !== 'string')
            return { ...volume, source: interpolate(volume.source) };
        const [source, target, mode] = interpolate(volume).split(':');
        if (target === undefined)
            return { type: 'volume', target: source };
        const isPath = source.startsWith('.') || source.startsWith('/') || source.startsWith('~');
        return { type: isPath ? 'bind' : 'volume', source, target,
            read_only: (mode ?? '').split(',').includes('ro') };
    });
}

//  tcp://host:port -> { host, port }; anything else -> null.
function parseEndpoint (value) {
    const match = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)$/.exec(value ?? '');
    return match ? { host: match[1], port: Number(match[2]) } : null;
}

//  The path of a built binary, or null (with the reason) when it is not there yet.
function builtBinary (name) {
    const file = path.join(binDir, name);
    try {
        accessSync(file, constants.X_OK);
        return { file };
    } catch {
        return { file: null, why: `${file} is not built yet` };
    }
}

//  The OLLAMAFLOW_* names a binary's --help prints, or null (with the reason) when it cannot say.
const helpCache = new Map();
function helpVariables (name) {
    if (helpCache.has(name))
        return helpCache.get(name);
    const built = builtBinary(name);
    let answer;
    if (!built.file) {
        answer = { names: null, why: built.why };
    } else {
        const run = spawnSync(built.file, ['--help'], {
            encoding: 'utf8', timeout: HELP_TIMEOUT_MS, killSignal: 'SIGKILL', stdio: ['ignore', 'pipe', 'pipe'],
        });
        const text = `${run.stdout ?? ''}\n${run.stderr ?? ''}`;
        const names = new Set(text.match(/\bOLLAMAFLOW_[A-Z0-9_]+\b/g) ?? []);
        if (run.error || run.status !== 0)
            answer = { names: null, why: `${name} --help failed (${run.error?.message ?? `exit ${run.status}`})` };
        else if (names.size === 0)
            answer = { names: null, why: `${name} --help lists no OLLAMAFLOW_* variables` };
        else
            answer = { names };
    }
    helpCache.set(name, answer);
    return answer;
}

const compose = loadCompose();
const services = compose.services ?? {};
const ours = Object.entries(services).filter(([, service]) => service.image === services.configd?.image);

// ---- the checks --------------------------------------------------------------------------------

test('the five services exist, run from one image built from this tree', () => {
    for (const name of SERVICE_NAMES)
        assert.ok(services[name], `compose.yaml has no service '${name}'`);
    const { image, build } = services.configd;
    assert.ok(image, 'configd names no image');
    assert.ok(build, 'configd has no build section');
    for (const name of SERVICE_NAMES) {
        assert.equal(services[name].image, image, `${name} uses image ${services[name].image}, not ${image}`);
        assert.deepEqual(services[name].build, build, `${name} builds differently from configd`);
    }
    const context = typeof build === 'string' ? build : build.context ?? '.';
    const dockerfile = typeof build === 'string' ? 'Dockerfile' : build.dockerfile ?? 'Dockerfile';
    assert.ok(existsSync(path.join(sourceDir, context, dockerfile)), `no ${dockerfile} in build context ${context}`);
});

test('each service runs its own binary, with the settings file', async (t) => {
    for (const [name, service] of ours) {
        const [executable, ...args] = commandOf(service);
        const expected = SERVICES[name]?.binary;
        if (expected)
            assert.equal(executable, expected, `${name} runs '${executable}', not ${expected}`);
        else
            assert.ok(ALL_BINARIES.includes(executable), `${name} runs '${executable}', which the build does not make`);
        const config = args.indexOf('--config');
        if (config >= 0)
            assert.equal(args[config + 1], environmentOf(service).OLLAMAFLOW_CONFIG,
                `${name}: --config and OLLAMAFLOW_CONFIG name different files`);
        await t.test(`${executable} is built`, (st) => {
            const built = builtBinary(executable);
            if (!built.file)
                st.skip(`${built.why}; not checked`);
        });
    }
});

test('each service mounts the settings read-only where OLLAMAFLOW_CONFIG points', () => {
    for (const [name, service] of ours) {
        const config = environmentOf(service).OLLAMAFLOW_CONFIG;
        assert.ok(config, `${name} has no OLLAMAFLOW_CONFIG`);
        const mount = volumesOf(service).find((volume) => volume.target === config);
        assert.ok(mount, `${name} mounts nothing at ${config}`);
        assert.equal(mount.type, 'bind', `${name}: the settings are not a bind mount`);
        assert.equal(mount.read_only, true, `${name}: the settings are not mounted read-only`);
    }
});

test('every bus endpoint names its owner service and the port the owner binds', () => {
    const bound = {};       //  endpoint variable -> port its owner binds
    for (const [variable, { owner }] of Object.entries(ENDPOINTS)) {
        const env = environmentOf(services[owner]);
        const endpoint = parseEndpoint(env[variable]);
        assert.ok(endpoint, `${owner} binds ${variable}='${env[variable]}', not tcp://host:port`);
        assert.equal(env.OLLAMAFLOW_BIND_ANY, '1',
            `${owner} binds ${variable} by service name: it needs OLLAMAFLOW_BIND_ANY=1`);
        bound[variable] = endpoint.port;
    }
    for (const [name, service] of ours) {
        const env = environmentOf(service);
        const executable = commandOf(service)[0];
        const spec = SERVICES[name] ?? TOOLS[executable] ?? { connects: [] };
        for (const variable of spec.connects)
            assert.ok(env[variable], `${name} connects to ${variable} but is not given it`);
        for (const [variable, value] of Object.entries(env)) {
            if (!/^OLLAMAFLOW_[A-Z]+_(ROUTER|PUBLISHER)$/.test(variable))
                continue;
            assert.ok(ENDPOINTS[variable], `${name}: unknown endpoint variable ${variable}`);
            const endpoint = parseEndpoint(value);
            assert.ok(endpoint, `${name}: ${variable}='${value}' is not tcp://host:port`);
            const { owner } = ENDPOINTS[variable];
            assert.ok(services[endpoint.host], `${name}: ${variable} names '${endpoint.host}', which is no service`);
            assert.equal(endpoint.host, owner, `${name}: ${variable} names ${endpoint.host}, but ${owner} binds it`);
            assert.equal(endpoint.port, bound[variable],
                `${name}: ${variable} uses port ${endpoint.port}, but ${owner} binds ${bound[variable]}`);
        }
    }
});

test('each service gets the variables it needs', () => {
    for (const name of SERVICE_NAMES) {
        const env = environmentOf(services[name]);
        for (const variable of [...SERVICES[name].binds, ...SERVICES[name].needs, 'OLLAMAFLOW_CONFIG'])
            assert.ok(env[variable], `${name} lacks ${variable}`);
        if (name !== 'configd')
            assert.equal(env.OLLAMAFLOW_DATABASE, undefined, `${name} sets OLLAMAFLOW_DATABASE; only configd owns it`);
    }
    const ingress = environmentOf(services.ingress);
    assert.ok(['0.0.0.0', '*', '::'].includes(ingress.OLLAMAFLOW_HOSTNAME),
        `ingress listens on ${ingress.OLLAMAFLOW_HOSTNAME}, unreachable from outside its container`);
});

test('the variable names exist in each binary\'s --help', async (t) => {
    const known = new Set();
    const helps = {};
    for (const executable of ALL_BINARIES) {
        const help = helpVariables(executable);
        helps[executable] = help;
        for (const variable of help.names ?? [])
            known.add(variable);
    }
    for (const [name, service] of ours) {
        const executable = commandOf(service)[0];
        await t.test(`${name} (${executable})`, (st) => {
            const help = helps[executable] ?? { why: `${executable} is no binary of ours` };
            if (!help.names) {
                st.skip(`${help.why}; variable names not checked`);
                return;
            }
            //  What the service needs must be in its own --help; what it is given and does not
            //  need (the shared bus block) must at least be a name some binary reads.
            const spec = SERVICES[name] ?? TOOLS[executable] ?? { connects: [], binds: [], needs: [] };
            for (const variable of [...spec.connects, ...(spec.binds ?? []), ...(spec.needs ?? [])])
                assert.ok(help.names.has(variable), `${executable} --help does not mention ${variable}`);
            for (const variable of Object.keys(environmentOf(service)))
                if (variable.startsWith('OLLAMAFLOW_'))
                    assert.ok(help.names.has(variable) || known.has(variable),
                        `${name} is given ${variable}, which no binary's --help mentions`);
        });
    }
});

test('ingress is scalable: no container name, no fixed host port', () => {
    const ingress = services.ingress;
    assert.equal(ingress.container_name, undefined, 'ingress has a container_name: --scale would clash');
    const port = Number(environmentOf(ingress).OLLAMAFLOW_PORT);
    const ports = ingress.ports ?? [];
    assert.ok(ports.length > 0, 'ingress publishes no port');
    let publishesHttp = false;
    for (const entry of ports) {
        let published;
        let target;
        if (typeof entry === 'object') {
            published = entry.published === undefined ? '' : String(interpolate(String(entry.published)));
            target = Number(entry.target);
        } else {
            //  [ip:][host:]container[/proto]; an IPv6 ip is in brackets
            const parts = interpolate(String(entry)).replace(/\/\w+$/, '').replace(/^\[[^\]]*\]:/, 'ip:').split(':');
            target = Number(parts.at(-1));
            published = parts.length >= 2 ? parts.at(-2) : '';
        }
        assert.equal(published, '', `ingress publishes host port '${published}': a second replica could not bind it`);
        publishesHttp ||= target === port;
    }
    assert.ok(publishesHttp, `ingress does not publish its OLLAMAFLOW_PORT ${port}`);
    assert.notEqual(ingress.network_mode, 'host', 'ingress on the host network cannot resolve the service names');
});

test('configd keeps its database on a named volume, which no other service mounts', () => {
    const database = environmentOf(services.configd).OLLAMAFLOW_DATABASE;
    const directory = path.posix.dirname(database);
    const mount = volumesOf(services.configd).find((volume) => volume.target === directory);
    assert.ok(mount, `configd mounts nothing at ${directory}, the directory of ${database}`);
    assert.equal(mount.type, 'volume', `configd's ${directory} is not a named volume`);
    assert.ok(compose.volumes && mount.source in compose.volumes,
        `volume '${mount.source}' is not declared under the top-level volumes`);
    for (const name of SERVICE_NAMES.filter((other) => other !== 'configd'))
        assert.ok(!volumesOf(services[name]).some((volume) => volume.source === mount.source),
            `${name} mounts configd's database volume`);
});

test('the five restart unless stopped and are checked by the image\'s ollamaflow-healthcheck', () => {
    const dockerfile = readFileSync(path.join(sourceDir, 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /^COPY deploy\/ollamaflow-healthcheck \/usr\/local\/bin\/ollamaflow-healthcheck$/m,
        'the Dockerfile does not install deploy/ollamaflow-healthcheck');
    const script = readFileSync(path.join(sourceDir, 'deploy', 'ollamaflow-healthcheck'), 'utf8');
    for (const name of SERVICE_NAMES) {
        const service = services[name];
        assert.equal(service.restart, 'unless-stopped', `${name}: restart is ${service.restart}`);
        const check = service.healthcheck;
        assert.deepEqual(check?.test, ['CMD', 'ollamaflow-healthcheck', name], `${name}: healthcheck ${JSON.stringify(check)}`);
        //  The port the script checks is the one the service binds (the first bus endpoint it owns)
        const env = environmentOf(service);
        const variable = name === 'ingress' ? 'OLLAMAFLOW_PORT' : SERVICES[name].binds.find((v) => script.includes(`port_of ${v} `));
        assert.ok(variable && env[variable], `${name}: the health check reads no endpoint of it`);
    }
});

test('files that services bind-mount from the tree exist', () => {
    for (const [name, service] of Object.entries(services)) {
        for (const volume of volumesOf(service)) {
            if (volume.type !== 'bind' || volume.target === '/etc/ollamaflow/ollamaflow.json')
                continue;       //  the settings are the operator's own file
            const source = path.resolve(sourceDir, volume.source);
            assert.ok(existsSync(source),
                `${name} mounts ${volume.source}, which does not exist`);
        }
    }
});

test('the Dockerfile builds on Debian 12 and installs every binary compose runs', () => {
    const text = readFileSync(path.join(sourceDir, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
    const lines = text.split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('#'));
    const stages = lines.filter((line) => /^FROM\s/i.test(line)).map((line) => {
        const [, image, , alias] = line.split(/\s+/);
        return { image, alias };
    });
    assert.ok(stages.length >= 2, 'the Dockerfile is not multi-stage');
    const aliases = new Set(stages.map((stage) => stage.alias).filter(Boolean));
    for (const { image } of stages)
        assert.ok(aliases.has(image) || /^debian:bookworm(-slim)?$/.test(image), `base image ${image} is not Debian 12`);
    assert.equal(stages.at(-1).image, 'debian:bookworm-slim', 'the runtime stage is not debian:bookworm-slim');

    assert.match(text, /cmake --install build --prefix \/usr\/local\b/, 'the build stage does not cmake --install into /usr/local');
    assert.match(text, /COPY --from=\S+ \/usr\/local\/bin\/? \/usr\/local\/bin\/?/, 'the runtime stage does not copy /usr/local/bin');
    const checked = /for bin in ([^;]+);/.exec(text)?.[1].trim().split(/\s+/) ?? [];
    for (const [name, service] of ours) {
        const executable = commandOf(service)[0];
        assert.ok(checked.includes(executable), `${name} runs ${executable}, which the image build does not check it installed`);
    }
    const cmd = lines.filter((line) => /^CMD\s/i.test(line)).at(-1);
    if (cmd)
        assert.ok(checked.includes(JSON.parse(cmd.replace(/^CMD\s+/i, ''))[0]), 'the image CMD runs a binary not checked');

    const runtime = text.slice(text.lastIndexOf('\nFROM '));
    for (const library of ['libzmq5', 'libczmq4', 'libsqlite3-0', 'libjansson4', 'libevhtp0', 'libevent-2.1-7',
        'libevent-openssl-2.1-7', 'libssl3', 'libsystemd0'])
        assert.match(runtime, new RegExp(`\\s${library.replace(/[.+]/g, '\\$&')}\\s`), `the runtime stage lacks ${library}`);
    assert.doesNotMatch(runtime, /-dev\b/, 'the runtime stage installs -dev packages');
    const user = runtime.match(/^\s*USER\s+(\S+)/m)?.[1];
    assert.ok(user && user !== 'root' && user !== '0', `the runtime stage runs as ${user ?? 'root'}`);
    assert.match(runtime, /^\s*VOLUME\s+.*\/var\/lib\/ollamaflow\b/m, 'the runtime stage declares no VOLUME /var/lib/ollamaflow');
});

test('Debian\'s docker-compose 1.29 accepts the file with every profile (when installed)', (t) => {
    const version = spawnSync('docker-compose', ['version', '--short'], { encoding: 'utf8', timeout: HELP_TIMEOUT_MS });
    if (version.error || version.status !== 0) {
        t.skip('docker-compose is not installed; its validation not run');
        return;
    }
    const run = spawnSync('docker-compose', ['-f', path.join(sourceDir, 'compose.yaml'), '--profile', 'front',
        '--profile', 'tools', 'config', '--quiet'],
        { encoding: 'utf8', timeout: 30000, cwd: sourceDir,
            env: { ...process.env, OLLAMAFLOW_JSON: path.join(sourceDir, 'compose.yaml') } });
    assert.equal(run.status, 0, `docker-compose ${version.stdout.trim()} config: ${run.stderr}`);
});

test('docker compose accepts the file (when Compose v2 is installed)', (t) => {
    const version = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8', timeout: HELP_TIMEOUT_MS });
    if (version.error || version.status !== 0) {
        t.skip('docker compose is not installed; its own validation not run');
        return;
    }
    const run = spawnSync('docker', ['compose', '-f', path.join(sourceDir, 'compose.yaml'), 'config', '--quiet'],
        { encoding: 'utf8', timeout: 30000, cwd: sourceDir });
    assert.equal(run.status, 0, `docker compose config: ${run.stderr}`);
});
