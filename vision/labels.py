"""One label vocabulary for every backend: the 80 COCO category names detectron2 uses.

Backends with their own label sets map them onto these names; labels with no
COCO counterpart keep a lower-case name of their own (`marker`, `book cover`).
"""

COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)

# MediaPipe's 2D detector (SSD-MobileNetV2 trained on Open Images V4) to the
# vocabulary above. docs/vision.md shows the same table.
MEDIAPIPE_TO_COCO: dict[str, str] = {
    "Person": "person",
    "Cat": "cat",
    "Dog": "dog",
    "Cattle": "cow",
    "Laptop": "laptop",
    "Chair": "chair",
    "Desk": "dining table",
    "Table": "dining table",
    "Mug": "cup",
    "Coffee cup": "cup",
    "Bottle": "bottle",
    "Book": "book",
    "Computer monitor": "tv",
    "Computer mouse": "mouse",
    "Car": "car",
    "Vehicle": "car",
    "Bicycle": "bicycle",
    "Stationary bicycle": "bicycle",
    "Box": "box",
    "Camera": "camera",
    "Footwear": "shoe",
    "Boot": "shoe",
    "High heels": "shoe",
}
