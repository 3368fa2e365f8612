//! Generated organisations for both simulators, deterministic per seed: employees in several
//! time zones, full-timers, part-timers and two-week rotations, full and half days, pending,
//! hourly and out-of-window periods, unmatched and deactivated people, approval policies, a
//! limited event, and hand-made bookings the sync must never touch.

use chrono::{Duration, NaiveDate, NaiveTime};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::personio::{PersonioSim, SimEmployee, SimHourlyAbsence, SimTimeOff, SimTimeOffType};
use super::productive::{ProductiveSim, SimBooking, SimEvent, SimPerson};
use crate::domain::{AbsenceUnit, AvailabilityPeriod, EventKind};

pub const CLIENT_ID: &str = "papi-client-demo";
pub const CLIENT_SECRET: &str = "papi-secret-demo";
pub const API_TOKEN: &str = "productive-token-demo";
pub const ORGANIZATION_ID: &str = "43059";

#[derive(Debug, Clone)]
pub struct OrgSpec {
    pub employees: usize,
    /// Day-unit periods per employee ending inside the window (on average; a few more lie
    /// outside it).
    pub periods_per_employee: usize,
    pub seed: u64,
    /// The day the organisation is generated around.
    pub today: NaiveDate,
}

impl OrgSpec {
    pub fn new(employees: usize, periods_per_employee: usize, today: NaiveDate) -> Self {
        Self {
            employees,
            periods_per_employee,
            seed: 42,
            today,
        }
    }
}

/// How an employee appears on the Productive side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counterpart {
    /// An active person with the same email (maybe in other case or with spaces).
    Matched(i64),
    /// An active person whose absences start out pending (approval policy).
    MatchedWithApproval(i64),
    Deactivated(i64),
    Missing,
}

impl Counterpart {
    /// The active person absences are booked on.
    pub fn bookable(self) -> Option<i64> {
        match self {
            Self::Matched(id) | Self::MatchedWithApproval(id) => Some(id),
            Self::Deactivated(_) | Self::Missing => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct GeneratedEmployee {
    pub personio_id: i64,
    pub email: String,
    pub counterpart: Counterpart,
}

/// The absence types every generated organisation has.
#[derive(Debug, Clone, Copy)]
pub struct Types {
    pub vacation: i64,
    pub sick: i64,
    pub unpaid: i64,
    pub home_office: i64,
    pub parental: i64,
    /// Maps to a limited Productive event: bookings need an allowance and fail.
    pub special: i64,
    /// Hour-unit: never synced.
    pub overtime: i64,
}

#[derive(Debug, Clone)]
pub struct Org {
    pub personio: PersonioSim,
    pub productive: ProductiveSim,
    pub employees: Vec<GeneratedEmployee>,
    pub types: Types,
    /// Bookings made by hand in Productive (must survive every sync untouched).
    pub hand_made_bookings: Vec<i64>,
}

const TIME_ZONES: [chrono_tz::Tz; 4] = [
    chrono_tz::Europe::Berlin,
    chrono_tz::Europe::London,
    chrono_tz::America::New_York,
    chrono_tz::Asia::Tokyo,
];

const FIRST_NAMES: [&str; 12] = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "John",
    "Katherine",
    "Linus",
    "Margaret",
    "Niklaus",
];
const LAST_NAMES: [&str; 12] = [
    "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus", "Johnson",
    "Torvalds", "Hamilton", "Wirth",
];

/// Seeds both simulators with one organisation.
pub fn generate(spec: &OrgSpec) -> Org {
    let personio = PersonioSim::new(CLIENT_ID, CLIENT_SECRET);
    let productive = ProductiveSim::new(API_TOKEN, ORGANIZATION_ID);
    let mut rng = StdRng::seed_from_u64(spec.seed);

    let day_type = |name: &str, category: &str| SimTimeOffType {
        name: name.into(),
        category: Some(category.into()),
        unit: AbsenceUnit::Day,
    };
    let types = Types {
        vacation: personio.add_time_off_type(day_type("Paid vacation", "paid_vacation")),
        sick: personio.add_time_off_type(day_type("Sick leave", "sick_leave")),
        unpaid: personio.add_time_off_type(day_type("Unpaid leave", "unpaid_vacation")),
        home_office: personio.add_time_off_type(day_type("Home office", "offsite_work")),
        parental: personio
            .add_time_off_type(day_type("Parental leave", "maternity_parental_leave")),
        special: personio.add_time_off_type(day_type("Special leave", "other")),
        overtime: personio.add_time_off_type(SimTimeOffType {
            name: "Overtime compensation".into(),
            category: Some("other".into()),
            unit: AbsenceUnit::Hour,
        }),
    };
    // Productive already has some categories: one the sync reuses (other case), one it must
    // leave alone, and a limited one that needs allowances.
    productive.add_event(SimEvent::new("SICK LEAVE"));
    productive.add_event(SimEvent {
        limitation_type_id: 2,
        ..SimEvent::new("Public holidays")
    });
    productive.add_event(SimEvent {
        limitation_type_id: 2,
        ..SimEvent::new("Special leave")
    });
    let hand_event = productive.add_event(SimEvent {
        paid: false,
        kind: EventKind::TimeOff,
        ..SimEvent::new("Not available")
    });

    let mut employees = Vec::with_capacity(spec.employees);
    let mut hand_made_bookings = Vec::new();
    for n in 0..spec.employees {
        let first = FIRST_NAMES[n % FIRST_NAMES.len()];
        let last = LAST_NAMES[(n / FIRST_NAMES.len()) % LAST_NAMES.len()];
        let email = format!(
            "{}.{}{}@example.com",
            first.to_lowercase(),
            last.to_lowercase(),
            n
        );
        let tz = TIME_ZONES[rng.gen_range(0..TIME_ZONES.len())];
        let personio_id = personio.add_employee(SimEmployee {
            tz,
            ..SimEmployee::new(first, last, &email)
        });

        let roll: f64 = rng.gen();
        let counterpart = if roll < 0.04 {
            Counterpart::Missing
        } else {
            // Emails differ in case or surrounding space for some: matching must not care.
            let productive_email = if roll < 0.10 {
                format!("  {}", email.to_uppercase())
            } else {
                email.clone()
            };
            let person = SimPerson {
                availabilities: availability(&mut rng, spec.today),
                has_approval_policy: roll > 0.94,
                availabilities_as_string: rng.gen_bool(0.8),
                active: !(0.04..0.06).contains(&roll),
                ..SimPerson::new(first, last, Some(&productive_email))
            };
            let active = person.active;
            let approval = person.has_approval_policy;
            let id = productive.add_person(person);
            match (active, approval) {
                (false, _) => Counterpart::Deactivated(id),
                (true, true) => Counterpart::MatchedWithApproval(id),
                (true, false) => Counterpart::Matched(id),
            }
        };

        // Absences ending inside the window...
        for _ in 0..spec.periods_per_employee {
            let start = spec.today + Duration::days(rng.gen_range(-85..270));
            personio.add_time_off(period(&mut rng, personio_id, start, &types));
        }
        // ... one that ended long ago (out of the window) ...
        if rng.gen_bool(0.3) {
            let start = spec.today - Duration::days(rng.gen_range(100..300));
            personio.add_time_off(SimTimeOff {
                end: start + Duration::days(rng.gen_range(0..5)),
                ..period(&mut rng, personio_id, start, &types)
            });
        }
        // ... and now and then a long one that started before the window and ends inside it.
        if rng.gen_bool(0.05) {
            let start = spec.today - Duration::days(rng.gen_range(95..200));
            personio.add_time_off(SimTimeOff {
                type_id: types.parental,
                end: spec.today + Duration::days(rng.gen_range(-80..60)),
                ..period(&mut rng, personio_id, start, &types)
            });
        }
        if rng.gen_bool(0.08) {
            let day = spec.today + Duration::days(rng.gen_range(-30..60));
            let hour = rng.gen_range(8..15);
            personio.add_hourly_absence(SimHourlyAbsence {
                employee_id: personio_id,
                type_id: types.overtime,
                start: day.and_time(NaiveTime::from_hms_opt(hour, 0, 0).expect("valid")),
                end: day.and_time(NaiveTime::from_hms_opt(hour + 2, 0, 0).expect("valid")),
                status: "approved".into(),
                comment: None,
            });
        }
        if let Counterpart::Matched(person_id) = counterpart {
            if rng.gen_bool(0.05) {
                let day = spec.today + Duration::days(rng.gen_range(1..60));
                hand_made_bookings.push(
                    productive
                        .add_booking(SimBooking::absence(person_id, hand_event, day, day, 480)),
                );
            }
        }
        employees.push(GeneratedEmployee {
            personio_id,
            email,
            counterpart,
        });
    }
    Org {
        personio,
        productive,
        employees,
        types,
        hand_made_bookings,
    }
}

/// A working pattern: mostly full-time, some part-time, four-day weeks and two-week rotations,
/// some with a change of contract two months ago.
fn availability(rng: &mut StdRng, today: NaiveDate) -> Vec<AvailabilityPeriod> {
    let since = NaiveDate::from_ymd_opt(2020, 1, 1).expect("valid date");
    let full = vec![8.0, 8.0, 8.0, 8.0, 8.0, 0.0, 0.0];
    let pattern = match rng.gen_range(0..20) {
        0..=13 => full.clone(),
        14 | 15 => vec![8.0, 8.0, 4.0, 0.0, 8.0, 0.0, 0.0],
        16 | 17 => vec![7.5, 7.5, 7.5, 7.5, 0.0, 0.0, 0.0],
        _ => vec![
            8.0, 8.0, 8.0, 8.0, 8.0, 0.0, 0.0, 6.0, 6.0, 6.0, 6.0, 0.0, 0.0, 0.0,
        ],
    };
    if rng.gen_bool(0.1) {
        let change = today - Duration::days(60);
        vec![
            AvailabilityPeriod {
                start: since,
                end: Some(change - Duration::days(1)),
                hours: full,
            },
            AvailabilityPeriod {
                start: change,
                end: None,
                hours: pattern,
            },
        ]
    } else {
        vec![AvailabilityPeriod {
            start: since,
            end: None,
            hours: pattern,
        }]
    }
}

/// One day-unit period: single (often half) days, short trips with half first/last days, long
/// leaves; mostly approved.
fn period(rng: &mut StdRng, employee_id: i64, start: NaiveDate, types: &Types) -> SimTimeOff {
    let type_id = match rng.gen_range(0..100) {
        0..=59 => types.vacation,
        60..=79 => types.sick,
        80..=86 => types.home_office,
        87..=93 => types.unpaid,
        94..=97 => types.parental,
        _ => types.special,
    };
    let (len, half_start, half_end) = match rng.gen_range(0..10) {
        // A single full day, a morning, an afternoon.
        0..=2 => (0, false, false),
        3 => (0, true, false),
        4 => (0, false, true),
        // A few days, sometimes starting after lunch or ending at lunch.
        5..=8 => (rng.gen_range(1..10), rng.gen_bool(0.25), rng.gen_bool(0.25)),
        _ => (rng.gen_range(14..40), false, false),
    };
    SimTimeOff {
        employee_id,
        type_id,
        start,
        end: start + Duration::days(len),
        half_day_start: half_start,
        half_day_end: half_end,
        status: if rng.gen_bool(0.9) {
            "approved"
        } else {
            "pending"
        }
        .into(),
        comment: None,
    }
}
