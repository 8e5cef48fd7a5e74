use opencas_store::Page;

/// `CurrentPage` / `ShowSize` as the API speaks them (1-based pages), already validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub current_page: i64,
    pub show_size: i64,
}

impl Paging {
    pub fn page(self) -> Page {
        Page {
            offset: (self.current_page - 1).saturating_mul(self.show_size),
            limit: self.show_size,
        }
    }

    /// How many pages `total` entries fill.
    pub fn page_count(self, total: i64) -> i64 {
        (total + self.show_size - 1) / self.show_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_counts() {
        let p = Paging {
            current_page: 3,
            show_size: 20,
        };
        assert_eq!((p.page().offset, p.page().limit), (40, 20));
        assert_eq!(p.page_count(0), 0);
        assert_eq!(p.page_count(41), 3);
        let huge = Paging {
            current_page: i64::MAX,
            show_size: 1000,
        };
        assert_eq!(huge.page().offset, i64::MAX);
    }
}
