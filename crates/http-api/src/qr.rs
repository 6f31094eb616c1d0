//! QR codes of artifact URLs as PNG images (what the mobile app scans to join a program).

use qrcode::{Color, EcLevel, QrCode};

/// Pixels per QR module.
const SCALE: usize = 8;
/// Quiet zone around the code, in modules.
const MARGIN: usize = 2;

/// Renders `text` as a black-on-white grayscale PNG (error correction level M); `None` when
/// the text is too long for a QR code.
pub fn png(text: &str) -> Option<Vec<u8>> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    let width = code.width();
    let colors = code.to_colors();
    let side = (width + 2 * MARGIN) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (mx, my) = (i % width + MARGIN, i / width + MARGIN);
            for y in my * SCALE..(my + 1) * SCALE {
                let row = y * side;
                pixels[row + mx * SCALE..row + (mx + 1) * SCALE].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    let side32 = u32::try_from(side).ok()?;
    let mut encoder = png::Encoder::new(&mut out, side32, side32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().ok()?;
    writer.write_image_data(&pixels).ok()?;
    writer.finish().ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_a_png() {
        let bytes = super::png("http://sync.example.org/artifacts/abc.json").unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(bytes.as_slice());
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!(info.width, info.height);
        assert!(info.width >= 21 * 8);
    }
}
