//! Seal + open of a 64-byte secret, and the two signing schemes.
//! `cargo bench -p cryptobot-vault`

use cryptobot_vault::{Binding, Credentials, Exchange, Keyring, SignRequest, open, seal, sign};
use zeroize::Zeroizing;

fn main() {
    divan::main();
}

const B: Binding<'static> = Binding {
    id: "xk_0123456789ab/v1",
    version: 1,
    purpose: "exchange-credentials",
};

#[divan::bench]
fn seal_open_64_bytes(bencher: divan::Bencher) {
    let ring = Keyring::generate().expect("ring");
    let secret = [0x5au8; 64];
    bencher.bench(|| {
        let s = seal(&ring, &B, divan::black_box(&secret)).expect("seal");
        open(&ring, &B, &s).expect("open")
    });
}

#[divan::bench]
fn sign_binance(bencher: divan::Bencher) {
    let c = Credentials {
        api_key: Zeroizing::new(
            "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A".into(),
        ),
        secret: Zeroizing::new(
            "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j".into(),
        ),
        passphrase: None,
    };
    let req = SignRequest {
        method: "POST".into(),
        path: "/api/v3/order".into(),
        query: Some("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559".into()),
        ..SignRequest::default()
    };
    bencher.bench(|| sign(Exchange::Binance, &c, divan::black_box(&req)).expect("sign"));
}
