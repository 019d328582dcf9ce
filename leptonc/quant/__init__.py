"""Post-training quantization: calibration data, observers and statistics collection."""

from leptonc.quant.calib_data import (
                                      CalibrationData,
                                      calibration_data,
                                      from_iterable,
                                      from_path,
                                      random_batches,
)
from leptonc.quant.calibrate import collect
from leptonc.quant.observers import (
                                      MSE,
                                      Entropy,
                                      MinMax,
                                      MovingAverageMinMax,
                                      Observer,
                                      Percentile,
                                      range_qparams,
)

__all__ = ["MSE", "CalibrationData", "Entropy", "MinMax", "MovingAverageMinMax", "Observer",
           "Percentile", "calibration_data", "collect", "from_iterable", "from_path",
           "random_batches", "range_qparams"]
