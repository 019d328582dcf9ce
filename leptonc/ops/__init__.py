"""The canonical op set: one module (or package) per family, registered in ``registry``."""
