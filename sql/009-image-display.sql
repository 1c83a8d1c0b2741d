-- The display device an image version's guests drive (issue 18): vdi-vm's
-- --display. "vesa" (the fallback framebuffer, every guest) or
-- "virtio-gpu" (guests with virtio_gpu; the golden image's Xorg modesetting
-- follows the client's window size). The pool loop passes it to vdi-hostd
-- with the image import.
ALTER TABLE image_versions ADD COLUMN display text NOT NULL DEFAULT 'vesa'
    CONSTRAINT image_versions_display_check CHECK (display IN ('vesa', 'virtio-gpu'));
