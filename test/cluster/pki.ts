/**
 * Certificates for the test cluster, made with the openssl CLI: a CA, the API server's
 * serving certificate, one client certificate per component (so RBAC applies to the
 * controller-manager and scheduler as in a real cluster) and the service-account key pair.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ClientCert {
  certPath: string;
  keyPath: string;
}

export interface ClusterPki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  saPublicKey: string;
  saPrivateKey: string;
  admin: ClientCert;
  /** The API server's client certificate towards kubelets (logs, exec, port-forward). */
  kubeletClient: ClientCert;
  controllerManager: ClientCert;
  scheduler: ClientCert;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function ecKey(dir: string, name: string): string {
  const path = join(dir, `${name}.key`);
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path], dir);
  return path;
}

/** A certificate signed by the CA in `dir` (ca.crt, ca.key). */
export function signed(dir: string, name: string, subject: string, extensions: string): ClientCert {
  const keyPath = ecKey(dir, name);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  const certPath = join(dir, `${name}.crt`);
  writeFileSync(ext, extensions);
  openssl(['req', '-new', '-key', keyPath, '-subj', subject, '-out', csr], dir);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '3650',
      '-sha256',
      '-extfile',
      ext,
      '-out',
      certPath,
    ],
    dir,
  );
  return { certPath, keyPath };
}

export const clientExt =
  'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n';

/**
 * `serverIps`: more addresses for the API server's certificate, e.g. the non-loopback
 * address it advertises to a real kubelet node (pods reach it through that endpoint).
 */
export function createPki(dir: string, serverIps: string[] = []): ClusterPki {
  mkdirSync(dir, { recursive: true });
  const caKey = ecKey(dir, 'ca');
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      caKey,
      '-subj',
      '/CN=clusteropt-test-ca',
      '-days',
      '3650',
      '-sha256',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-out',
      'ca.crt',
    ],
    dir,
  );
  const server = signed(
    dir,
    'apiserver',
    '/CN=kube-apiserver',
    'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' +
      `subjectAltName=IP:127.0.0.1,IP:10.96.0.1,${serverIps.map((ip) => `IP:${ip},`).join('')}` +
      'DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,' +
      'DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n',
  );
  const admin = signed(dir, 'admin', '/O=system:masters/CN=kubernetes-admin', clientExt);
  const kubeletClient = signed(
    dir,
    'apiserver-kubelet-client',
    '/O=system:masters/CN=kube-apiserver-kubelet-client',
    clientExt,
  );
  const controllerManager = signed(
    dir,
    'controller-manager',
    '/CN=system:kube-controller-manager',
    clientExt,
  );
  const scheduler = signed(dir, 'scheduler', '/CN=system:kube-scheduler', clientExt);
  const saPrivateKey = join(dir, 'sa.key');
  const saPublicKey = join(dir, 'sa.pub');
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', saPrivateKey], dir);
  openssl(['pkey', '-in', saPrivateKey, '-pubout', '-out', saPublicKey], dir);
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey,
    serverCert: server.certPath,
    serverKey: server.keyPath,
    saPublicKey,
    saPrivateKey,
    admin,
    kubeletClient,
    controllerManager,
    scheduler,
  };
}

/** A kubeconfig with the certificates embedded, so it works from any folder. */
export function writeKubeconfig(
  path: string,
  server: string,
  caCert: string,
  client: ClientCert,
  user: string,
): void {
  const b64 = (p: string) => readFileSync(p).toString('base64');
  const text = `apiVersion: v1
kind: Config
clusters:
- name: clusteropt-test
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(caCert)}
users:
- name: ${user}
  user:
    client-certificate-data: ${b64(client.certPath)}
    client-key-data: ${b64(client.keyPath)}
contexts:
- name: ${user}@clusteropt-test
  context:
    cluster: clusteropt-test
    user: ${user}
current-context: ${user}@clusteropt-test
`;
  writeFileSync(path, text, { mode: 0o600 });
}
