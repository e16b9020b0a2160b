// Test certificates, made with the openssl command in a directory of their own.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

// A CA (name.pem, name-key.pem) and a server certificate it signs for localhost and 127.0.0.1
// (name-server.pem, name-server-key.pem), in dir; returns { cert, key, ca } paths
export function makeCa(dir, name) {
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name} test CA`,
    '-keyout', `${name}-key.pem`, '-out', `${name}.pem`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost',
    '-keyout', `${name}-server-key.pem`, '-out', `${name}-server.csr`);
  writeFileSync(join(dir, `${name}.ext`), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n'
    + 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', `${name}-server.csr`, '-CA', `${name}.pem`, '-CAkey', `${name}-key.pem`,
    '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}-server.pem`);
  return { cert: join(dir, `${name}-server.pem`), key: join(dir, `${name}-server-key.pem`),
    ca: join(dir, `${name}.pem`) };
}
