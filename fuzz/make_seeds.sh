#!/usr/bin/env bash
# Regenerates the PKI seed corpora (CSRs, certificates, keys, key stores) with openssl and
# keytool. The wire seeds come from fuzz/capture_requests.py. Seeds are named seed-*.
set -euo pipefail
cd "$(dirname "$0")"
C=corpus
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p $C/csr_parse $C/cert_parse $C/key_parse $C/pkcs12_jks_import
PW=changeit

key() { # name, genpkey args...
  local n=$1; shift
  openssl genpkey "$@" -out "$W/$n.key" 2>/dev/null
}
key rsa1024 -algorithm RSA -pkeyopt rsa_keygen_bits:1024
key rsa2048 -algorithm RSA -pkeyopt rsa_keygen_bits:2048
key rsa3072 -algorithm RSA -pkeyopt rsa_keygen_bits:3072
key p256 -algorithm EC -pkeyopt ec_paramgen_curve:P-256
key p384 -algorithm EC -pkeyopt ec_paramgen_curve:P-384
key p521 -algorithm EC -pkeyopt ec_paramgen_curve:P-521
key sm2 -algorithm SM2
key k256 -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1
key ed25519 -algorithm ED25519

for k in rsa1024 rsa2048 p256 p384 p521 sm2 k256 ed25519; do
  san="subjectAltName=DNS:example.com,DNS:*.example.com,IP:192.0.2.1,IP:2001:db8::1,email:a@example.com,URI:https://example.com/x"
  openssl req -new -key "$W/$k.key" -subj "/C=CN/O=Example/OU=Fuzz/CN=$k.example.com" -addext "$san" \
    -out $C/csr_parse/seed-$k.pem 2>/dev/null
  openssl req -in $C/csr_parse/seed-$k.pem -outform DER -out $C/csr_parse/seed-$k.der
done
openssl req -new -key "$W/rsa3072.key" -subj "/CN=pss" -sigopt rsa_padding_mode:pss -sha384 \
  -out $C/csr_parse/seed-rsa3072-pss.pem
openssl req -new -key "$W/p256.key" -subj "/CN=bare" -out $C/csr_parse/seed-p256-nosan.pem
openssl req -new -key "$W/p256.key" -subj "/CN=ku" -addext "keyUsage=critical,digitalSignature" \
  -addext "extendedKeyUsage=serverAuth,clientAuth" -addext "basicConstraints=CA:FALSE" \
  -out $C/csr_parse/seed-p256-exts.der -outform DER
openssl req -new -key "$W/sm2.key" -subj "/CN=sm2-id" -sigopt "distid:1234567812345678" -sm3 \
  -out $C/csr_parse/seed-sm2-gmt-id.pem 2>/dev/null || true

# certificates: a root, an intermediate and a leaf per family, PEM chains and DER
mkcert() { # family rootkey subkey leafkey
  local f=$1 rk=$2 sk=$3 lk=$4
  openssl req -x509 -new -key "$W/$rk.key" -subj "/C=CN/O=Fuzz/CN=$f Root" -days 3650 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$W/$f-root.pem" 2>/dev/null
  openssl req -new -key "$W/$sk.key" -subj "/C=CN/O=Fuzz/CN=$f Sub" -out "$W/$f-sub.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' > "$W/ca.ext"
  openssl x509 -req -in "$W/$f-sub.csr" -CA "$W/$f-root.pem" -CAkey "$W/$rk.key" -CAcreateserial \
    -days 1825 -extfile "$W/ca.ext" -out "$W/$f-sub.pem" 2>/dev/null
  openssl req -new -key "$W/$lk.key" -subj "/CN=www.$f.example" -out "$W/$f-leaf.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:www.%s.example,IP:10.0.0.1\ncrlDistributionPoints=URI:http://crl.example/x.crl\nauthorityInfoAccess=OCSP;URI:http://ocsp.example,caIssuers;URI:http://ca.example/x.crt\n' "$f" > "$W/leaf.ext"
  openssl x509 -req -in "$W/$f-leaf.csr" -CA "$W/$f-sub.pem" -CAkey "$W/$sk.key" -CAcreateserial \
    -days 365 -extfile "$W/leaf.ext" -out "$W/$f-leaf.pem" 2>/dev/null
  cat "$W/$f-leaf.pem" "$W/$f-sub.pem" "$W/$f-root.pem" > $C/cert_parse/seed-$f-chain.pem
  cat "$W/$f-leaf.pem" "$W/$f-root.pem" > $C/cert_parse/seed-$f-badorder.pem
  cp "$W/$f-root.pem" $C/cert_parse/seed-$f-root.pem
  openssl x509 -in "$W/$f-leaf.pem" -outform DER -out $C/cert_parse/seed-$f-leaf.der
  openssl x509 -in "$W/$f-sub.pem" -outform DER -out $C/cert_parse/seed-$f-sub.der
}
mkcert rsa rsa3072 rsa2048 rsa2048
mkcert ec p384 p256 p256
mkcert p521 p521 p384 p521
mkcert sm2 sm2 sm2 sm2
openssl req -x509 -new -key "$W/ed25519.key" -subj "/CN=ed" -days 30 -outform DER -out $C/cert_parse/seed-ed25519.der

# keys in every encoding
for k in rsa1024 rsa2048 p256 p384 p521 sm2 k256 ed25519; do
  cp "$W/$k.key" $C/key_parse/seed-$k-pkcs8.pem
  openssl pkey -in "$W/$k.key" -outform DER -out $C/key_parse/seed-$k-pkcs8.der 2>/dev/null
done
for k in rsa1024 rsa2048; do
  openssl rsa -in "$W/$k.key" -traditional -out $C/key_parse/seed-$k-pkcs1.pem 2>/dev/null
  openssl rsa -in "$W/$k.key" -traditional -outform DER -out $C/key_parse/seed-$k-pkcs1.der 2>/dev/null
done
for k in p256 p384 p521 sm2; do
  openssl ec -in "$W/$k.key" -out $C/key_parse/seed-$k-sec1.pem 2>/dev/null
  openssl ec -in "$W/$k.key" -outform DER -out $C/key_parse/seed-$k-sec1.der 2>/dev/null
done
openssl ecparam -name prime256v1 -genkey -out $C/key_parse/seed-p256-with-params.pem
for k in rsa2048 p256 sm2; do
  openssl pkcs8 -topk8 -in "$W/$k.key" -v2 aes-256-cbc -iter 2048 -passout pass:$PW \
    -out $C/key_parse/seed-$k-encrypted.pem
done
openssl pkcs8 -topk8 -in "$W/p256.key" -scrypt -passout pass:$PW -out $C/key_parse/seed-p256-scrypt.pem 2>/dev/null || true
openssl rsa -in "$W/rsa2048.key" -traditional -aes128 -passout pass:$PW -out $C/key_parse/seed-rsa2048-legacy-enc.pem 2>/dev/null

# key stores
for f in rsa ec; do
  lk=$([ $f = rsa ] && echo rsa2048 || echo p256)
  cat "$W/$f-sub.pem" "$W/$f-root.pem" > "$W/$f-cas.pem"
  openssl pkcs12 -export -inkey "$W/$lk.key" -in "$W/$f-leaf.pem" -certfile "$W/$f-cas.pem" -name leaf \
    -passout pass:$PW -out $C/pkcs12_jks_import/seed-$f.p12
  openssl pkcs12 -export -inkey "$W/$lk.key" -in "$W/$f-leaf.pem" -name leaf -legacy \
    -passout pass:$PW -out $C/pkcs12_jks_import/seed-$f-legacy.p12 2>/dev/null || true
  openssl pkcs12 -export -nokeys -in "$W/$f-root.pem" -passout pass:$PW -out $C/pkcs12_jks_import/seed-$f-certonly.p12
  keytool -importkeystore -srckeystore $C/pkcs12_jks_import/seed-$f.p12 -srcstoretype PKCS12 -srcstorepass $PW \
    -destkeystore "$W/$f.jks" -deststoretype JKS -deststorepass $PW -destkeypass $PW -noprompt >/dev/null 2>&1
  cp "$W/$f.jks" $C/pkcs12_jks_import/seed-$f.jks
  keytool -importcert -noprompt -alias root -file "$W/$f-root.pem" -keystore "$W/$f-trust.jks" \
    -storetype JKS -storepass $PW >/dev/null 2>&1
  cp "$W/$f-trust.jks" $C/pkcs12_jks_import/seed-$f-trust.jks
done
openssl pkcs12 -export -inkey "$W/rsa2048.key" -in "$W/rsa-leaf.pem" -name leaf -passout pass:wrong \
  -out $C/pkcs12_jks_import/seed-rsa-otherpass.p12
# The EC file with its MAC iteration count (the last INTEGER, 2048) raised to 2^31-1: the reader must
# refuse it before deriving (the PFX and MacData SEQUENCE lengths grow by the 2 added bytes).
python3 - "$C/pkcs12_jks_import" <<'PY'
import sys
d = bytearray(open(sys.argv[1] + "/seed-ec.p12", "rb").read())
assert d[:2] == b"\x30\x82" and d[-4:] == bytes.fromhex("02020800")
d[2:4] = (int.from_bytes(d[2:4], "big") + 2).to_bytes(2, "big")
mac = len(d) - 67  # MacData: SEQUENCE of 65 bytes (sha256 DigestInfo, 8-byte salt, iterations)
assert d[mac:mac + 2] == b"\x30\x41"
d[mac + 1] = 0x43
d[-4:] = bytes.fromhex("02047fffffff")
open(sys.argv[1] + "/seed-ec-maciter-max.p12", "wb").write(d)
PY
echo "seeds: $(find $C -type f | wc -l) files, $(du -sk $C | cut -f1) KiB"
