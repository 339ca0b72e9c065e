//! Amounts in Chinese financial capitals (大写金额), as written on invoices and cheques.
//!
//! The capitals exist so an amount cannot be altered by adding a stroke; the rules below are
//! those of the People's Bank of China for bills and settlement vouchers (《支付结算办法》,
//! "正确填写票据和结算凭证的基本规定"), choosing one form wherever they allow two.

use crate::money::Money;

const DIGITS: [char; 10] = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'];

/// Units of a digit inside a group of four: ones, tens, hundreds, thousands.
const PLACE_UNITS: [&str; 4] = ["", "拾", "佰", "仟"];

/// Renders `amount` in Chinese financial capitals, without the "人民币" prefix.
///
/// The convention (one form picked wherever the rules allow two):
/// - Digits 零壹贰叁肆伍陆柒捌玖, places 拾佰仟, groups of four 万 and 亿; 10^12 is 万亿
///   (not the ambiguous 兆), so the largest `Money` reads 玖仟…玖万…亿…元玖角玖分. A leading
///   ten is 壹拾, never a bare 拾, so nothing can be written in front of it.
/// - A run of zeros between two written digits is one 零 (6007 → 陆仟零柒). Zeros at the end
///   of a group are absorbed by its 万 or 亿 (107000 → 壹拾万柒仟); a group that is zero
///   altogether is skipped, and then a 零 stands for it (100001000 → 壹亿零壹仟).
/// - Integer part then 元; nothing when it is zero and there are 角 or 分 (0.50 → 伍角).
/// - 整 is written only when the amount ends at 元 (1.00 → 壹元整, 10.50 → 壹拾元伍角). The
///   PBoC rules make 整 after 角 optional; the stricter 《会计基础工作规范》 writes 伍角整,
///   which this function does not.
/// - A zero 元 digit before a non-zero 角 gets no 零 (10.50 → 壹拾元伍角); a zero 角 before
///   a non-zero 分 gets one (100.05 → 壹佰元零伍分).
/// - Zero is 零元整.
pub fn chinese_capitals(amount: Money) -> String {
    let fen_total = u64::try_from(amount.fen()).expect("Money is never negative");
    let yuan = fen_total / 100;
    let jiao = (fen_total / 10 % 10) as usize;
    let fen = (fen_total % 10) as usize;

    if fen_total == 0 {
        return "零元整".to_owned();
    }
    let mut out = String::new();
    if yuan > 0 {
        push_integer(&mut out, yuan);
        out.push('元');
    }
    if jiao > 0 {
        out.push(DIGITS[jiao]);
        out.push('角');
    } else if fen > 0 && yuan > 0 {
        out.push('零');
    }
    if fen > 0 {
        out.push(DIGITS[fen]);
        out.push('分');
    } else if jiao == 0 {
        out.push('整');
    }
    out
}

/// Writes a positive integer of at most 16 digits (what `Money` allows).
fn push_integer(out: &mut String, value: u64) {
    let digits: Vec<usize> = value
        .to_string()
        .bytes()
        .map(|b| usize::from(b - b'0'))
        .collect();
    assert!(
        digits.len() <= 16,
        "Money has at most 16 integer digits, got {value}"
    );
    // A zero seen after something was written, not yet followed by a non-zero digit.
    let mut zero_pending = false;
    for (index, &digit) in digits.iter().enumerate() {
        // Place counted from the ones: 0 = 元 digit, 4 = 万 digit, 8 = 亿 digit, ...
        let place = digits.len() - 1 - index;
        if digit == 0 {
            zero_pending = !out.is_empty();
        } else {
            if zero_pending {
                out.push('零');
                zero_pending = false;
            }
            out.push(DIGITS[digit]);
            out.push_str(PLACE_UNITS[place % 4]);
        }
        if let Some(unit) = group_unit(&digits[..=index], place) {
            out.push_str(unit);
            // Trailing zeros of a group are read into its unit: 壹拾万, not 壹拾万零.
            zero_pending = false;
        }
    }
}

/// The 万/亿 written after the digit at `place`, given the digits up to and including it.
/// 万 (places 4 and 12) only when its own group of four has a non-zero digit; 亿 (place 8)
/// whenever anything above it is non-zero, since 万亿 groups are counted in 亿.
fn group_unit(digits_so_far: &[usize], place: usize) -> Option<&'static str> {
    let group: &[usize] = &digits_so_far[digits_so_far.len().saturating_sub(4)..];
    match place {
        4 | 12 if group.iter().any(|&d| d != 0) => Some("万"),
        8 if digits_so_far.iter().any(|&d| d != 0) => Some("亿"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn capitals(text: &str) -> String {
        chinese_capitals(Money::parse(text).unwrap())
    }

    /// (amount, capitals): the examples of the invoice brief and of the PBoC rules, then
    /// zeros in every position, the 万/亿/万亿 boundaries and the limits of `Money`.
    const CASES: &[(&str, &str)] = &[
        // the brief
        ("0.00", "零元整"),
        ("1.00", "壹元整"),
        ("10.50", "壹拾元伍角"),
        ("100.05", "壹佰元零伍分"),
        ("1234.56", "壹仟贰佰叁拾肆元伍角陆分"),
        ("100000.00", "壹拾万元整"),
        ("10010.00", "壹万零壹拾元整"),
        ("1000000001.01", "壹拾亿零壹元零壹分"),
        ("20000.30", "贰万元叁角"),
        // PBoC examples (the form without the optional 零 where two are allowed)
        ("1409.50", "壹仟肆佰零玖元伍角"),
        ("6007.14", "陆仟零柒元壹角肆分"),
        ("1680.32", "壹仟陆佰捌拾元叁角贰分"),
        ("107000.53", "壹拾万柒仟元伍角叁分"),
        ("16409.02", "壹万陆仟肆佰零玖元零贰分"),
        ("325.04", "叁佰贰拾伍元零肆分"),
        // below one yuan: no 元
        ("0.01", "壹分"),
        ("0.10", "壹角"),
        ("0.11", "壹角壹分"),
        ("0.99", "玖角玖分"),
        // 元 and 角 digits
        ("10.00", "壹拾元整"),
        ("10.05", "壹拾元零伍分"),
        ("10.55", "壹拾元伍角伍分"),
        ("11.00", "壹拾壹元整"),
        ("19.01", "壹拾玖元零壹分"),
        // zeros inside the first group
        ("101.00", "壹佰零壹元整"),
        ("110.00", "壹佰壹拾元整"),
        ("1001.00", "壹仟零壹元整"),
        ("1010.00", "壹仟零壹拾元整"),
        ("1100.00", "壹仟壹佰元整"),
        ("9009.09", "玖仟零玖元零玖分"),
        // the 万 boundary
        ("9999.99", "玖仟玖佰玖拾玖元玖角玖分"),
        ("10000.00", "壹万元整"),
        ("10000.01", "壹万元零壹分"),
        ("10001.00", "壹万零壹元整"),
        ("10100.00", "壹万零壹佰元整"),
        ("11000.00", "壹万壹仟元整"),
        ("100700.00", "壹拾万零柒佰元整"),
        ("1000100.00", "壹佰万零壹佰元整"),
        ("10000000.00", "壹仟万元整"),
        ("10001000.00", "壹仟万壹仟元整"),
        ("12345678.00", "壹仟贰佰叁拾肆万伍仟陆佰柒拾捌元整"),
        // the 亿 boundary
        ("99999999.00", "玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元整"),
        ("100000000.00", "壹亿元整"),
        ("100000001.00", "壹亿零壹元整"),
        ("100001000.00", "壹亿零壹仟元整"),
        ("100010000.00", "壹亿零壹万元整"),
        ("101000000.00", "壹亿零壹佰万元整"),
        ("110000000.00", "壹亿壹仟万元整"),
        ("1000010000.00", "壹拾亿零壹万元整"),
        (
            "123456789012.34",
            "壹仟贰佰叁拾肆亿伍仟陆佰柒拾捌万玖仟零壹拾贰元叁角肆分",
        ),
        // the 万亿 boundary
        ("1000000000000.00", "壹万亿元整"),
        ("1000000000001.00", "壹万亿零壹元整"),
        ("1000100000000.00", "壹万零壹亿元整"),
        ("1000000010000.00", "壹万亿零壹万元整"),
        ("1200000000000.00", "壹万贰仟亿元整"),
        ("10000000000000.00", "壹拾万亿元整"),
        // the limits of Money (16 integer digits)
        ("1000000000000000.00", "壹仟万亿元整"),
        ("1000000000000000.01", "壹仟万亿元零壹分"),
        ("9000000000000009.00", "玖仟万亿零玖元整"),
        (
            "9999999999999999.99",
            "玖仟玖佰玖拾玖万玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分",
        ),
    ];

    #[test]
    fn every_case_of_the_table_reads_as_written() {
        let mut wrong = Vec::new();
        for &(amount, expected) in CASES {
            let actual = capitals(amount);
            if actual != expected {
                wrong.push(format!("{amount}: expected {expected}, got {actual}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn the_table_reads_back_to_its_amounts() {
        for &(amount, expected) in CASES {
            assert_eq!(
                read_back(expected),
                Money::parse(amount).unwrap().fen(),
                "{amount}"
            );
        }
    }

    /// A reader of capitals written independently of the writer, so a property can check the
    /// value of any rendering without a second table.
    fn read_back(text: &str) -> i64 {
        let (mut below_yi, mut group, mut digit, mut fen_total) = (0i64, 0i64, 0i64, 0i64);
        for c in text.chars() {
            match c {
                '零' | '整' => {}
                '拾' => (group, digit) = (group + digit * 10, 0),
                '佰' => (group, digit) = (group + digit * 100, 0),
                '仟' => (group, digit) = (group + digit * 1000, 0),
                '万' => (below_yi, group, digit) = (below_yi + (group + digit) * 10_000, 0, 0),
                // Everything read so far counts in 亿: this is how 万亿 works.
                '亿' => {
                    fen_total += (below_yi + group + digit) * 100_000_000 * 100;
                    (below_yi, group, digit) = (0, 0, 0);
                }
                '元' => {
                    fen_total += (below_yi + group + digit) * 100;
                    (below_yi, group, digit) = (0, 0, 0);
                }
                '角' => (fen_total, digit) = (fen_total + digit * 10, 0),
                '分' => (fen_total, digit) = (fen_total + digit, 0),
                _ => {
                    let value = DIGITS.iter().position(|&d| d == c);
                    digit =
                        i64::try_from(value.unwrap_or_else(|| panic!("{c} in {text}"))).unwrap();
                }
            }
        }
        fen_total
    }

    proptest! {
        /// Amounts of every size, from fen to the largest `Money`.
        #[test]
        fn any_amount_reads_back_to_itself_and_is_well_formed(
            fen in prop_oneof![0i64..1_000_000, 0i64..=999_999_999_999_999_999]
        ) {
            let text = chinese_capitals(Money::from_fen(fen).unwrap());
            prop_assert_eq!(read_back(&text), fen, "{}", text);
            // Outside 零元整, a 零 is never first and always stands before a non-zero digit.
            if text != "零元整" {
                prop_assert!(!text.starts_with('零'), "{}", text);
                let chars: Vec<char> = text.chars().collect();
                for pair in chars.windows(2).filter(|pair| pair[0] == '零') {
                    prop_assert!(DIGITS[1..].contains(&pair[1]), "{}", text);
                }
                prop_assert!(!text.ends_with('零'), "{}", text);
            }
            // 整 exactly when the amount is whole yuan.
            prop_assert_eq!(text.ends_with('整'), fen % 100 == 0, "{}", text);
        }
    }
}
