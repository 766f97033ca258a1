//! The CF conventions as the hub needs them: calendars and time coordinates,
//! the role of dimensions and variables, missing values.

mod calendar;
mod conventions;
mod forecast;
mod packing;
mod time;

pub use calendar::{Calendar, UnknownCalendar};
pub use conventions::{
    Axis, DimRole, FillValue, VariableKind, coordinate_axis, dim_roles, drop_unmatchable_fills, fill_from_attr,
    is_time_coordinate, netcdf_default_fill, role_from_name, storage_fill, variable_kinds,
};
pub use forecast::{ForecastAxes, UnknownLeadUnits, duration_seconds, plus_seconds};
pub use packing::ValueDecoding;
pub use time::{CfDateTime, CfTime, TimeEncoding, TimeError, TimeUnit};
