//! Writes seed inputs for the fuzz targets into `fuzz/seeds/<target>/`:
//! valid segments (so the fuzzer starts past the magic and fingerprint) and
//! their headers. Run by `.ci/fuzz.sh` before fuzzing.

use std::path::Path;

use shm_fuzz::Schema;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let v = Schema::example();
    let image = shm_runtime::tools::segment_image(&v);
    shm_runtime::tools::validate_bytes::<Schema>(&image).expect("the seed is valid");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let d = dir.join(target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), bytes).unwrap();
    };
    write("open_bytes", "valid", &image);
    let mut header = image[..shm_runtime::header::HEADER_SIZE].to_vec();
    header.extend_from_slice(&(image.len() as u64).to_le_bytes());
    write("header", "valid", &header);
    let d = &image[256..256
        + shm_runtime::header::Header::decode(image[..256].try_into().unwrap()).descriptor_len
            as usize];
    write("descriptor", "my_shared_data", d);
    // mutate_image: one harmless edit (xor with 0) to start from.
    write("mutate_image", "noop", &[0, 0, 0, 0]);
    println!("seeds written to {}", dir.display());
}
