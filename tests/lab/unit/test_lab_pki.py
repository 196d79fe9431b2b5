from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from nodenet_lab import pki


def load(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_certificates_chain_to_the_lab_ca_with_the_names_clients_use(tmp_path):
    pki.generate(tmp_path, "10.96.0.1", "10.231.76.1", "infra01")
    ca = load(tmp_path / "ca.crt")
    for name in ("apiserver", "admin"):
        cert = load(tmp_path / f"{name}.crt")
        assert cert.issuer == ca.subject
        ca.public_key().verify(
            cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm)
        )
    sans = load(tmp_path / "apiserver.crt").extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert "kubernetes.default.svc" in sans.value.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in sans.value.get_values_for_type(x509.IPAddress)} == {
        "127.0.0.1",
        "10.96.0.1",
        "10.231.76.1",
    }
    admin = load(tmp_path / "admin.crt")
    organization = admin.subject.get_attributes_for_oid(x509.oid.NameOID.ORGANIZATION_NAME)
    assert organization[0].value == "system:masters"
    assert (tmp_path / "ca.key").stat().st_mode & 0o077 == 0
